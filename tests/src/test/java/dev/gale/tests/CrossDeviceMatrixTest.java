package dev.gale.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The matrix itself: a wrong result, a throwing run and an op that compares nothing are failures, and are shown. */
class CrossDeviceMatrixTest {
    @Test
    void wrongResultsFailTheirCells() {
        OpCheck wrongOnKernels = new OpCheck("off_by_1e-4", "1e-5", (t, e) ->
                e.check("x", t.vectorApi() ? 1.0 : 1.0001, 1.0, 1.0, 1e-5));
        OpCheck throwing = new OpCheck("throws", "-", (t, e) -> {
            throw new IllegalStateException("boom on " + t.name());
        });
        OpCheck empty = new OpCheck("empty", "-", (t, e) -> { });
        OpCheck nanMismatch = new OpCheck("nan", "-", (t, e) -> e.check("x", Double.NaN, 0.0, 1.0, 1e-5));
        CrossDeviceMatrix.Result r = CrossDeviceMatrix.run(List.of(wrongOnKernels, throwing, empty, nanMismatch),
                null);
        assertFalse(r.passed());
        assertTrue(r.cell("off_by_1e-4", "vector-api").passed());
        CrossDeviceMatrix.Cell emu = r.cell("off_by_1e-4", "emulator");
        assertFalse(emu.passed());
        assertEquals(1e-4, emu.maxRelative(), 1e-9);
        assertTrue(r.cell("throws", "emulator").failure().contains("boom on emulator"));
        assertFalse(r.cell("empty", "vector-api").passed());
        assertFalse(r.cell("nan", "vector-api").passed());
        String text = r.render();
        assertTrue(text.contains("FAIL off_by_1e-4 on emulator"), text);
        assertTrue(text.contains("1.0e-04 FAIL"), text);
    }

    @Test
    void tolerancesFollowTheNumericsConvention() {
        Errors e = new Errors();
        e.check("inf", Double.POSITIVE_INFINITY, Double.POSITIVE_INFINITY, 1, 0);
        e.check("nan", Double.NaN, Double.NaN, 1, 0);
        e.check("subnormal flushed", 0.0, 1e-40, 1e-40, 1e-5);
        e.check("within", 100.0005, 100.0, 100, 1e-5);
        assertTrue(e.passed(), e::firstFailure);
        e.check("outside", 100.002, 100.0, 100, 1e-5);
        assertFalse(e.passed());
        assertTrue(e.firstFailure().startsWith("outside"), e.firstFailure());
    }
}
