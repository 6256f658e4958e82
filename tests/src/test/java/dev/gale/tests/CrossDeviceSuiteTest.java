package dev.gale.tests;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The cross-device suite: every op on the Vector API path, the emulator and each OpenCL device, against the scalar
 * reference. Prints the matrix and fails when any cell fails. Without an OpenCL device the device columns are absent
 * (and reported); with {@code GALE_REQUIRE_OPENCL=1} (CI) that is a failure.
 */
class CrossDeviceSuiteTest {
    @Test
    void everyOpOnEveryDeviceMatchesTheReference() {
        // -Dgale.ops=a,b runs only those rows (while working on an op); CI runs them all.
        String only = System.getProperty("gale.ops", "");
        List<OpCheck> ops = Ops.all().stream()
                .filter(o -> only.isBlank() || Arrays.asList(only.split(",")).contains(o.name())).toList();
        CrossDeviceMatrix.Result result = CrossDeviceMatrix.run(ops, System.out);
        System.out.println();
        System.out.println(result.render());
        if (result.openClMissing() != null && "1".equals(System.getenv("GALE_REQUIRE_OPENCL"))) {
            fail("GALE_REQUIRE_OPENCL=1 but no OpenCL device took part: " + result.openClMissing());
        }
        assertTrue(result.passed(), () -> result.failures().size() + " cells failed:\n" + result.render());
    }
}
