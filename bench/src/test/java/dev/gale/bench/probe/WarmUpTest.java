package dev.gale.bench.probe;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The warm-up's stopping rule, on a fake clock: no real timing involved. */
class WarmUpTest {
    /** A clock that only moves when a fake call says how long it took. */
    private static final class FakeClock {
        long now;
        long jit;
    }

    @Test
    void keepsGoingWhileCallsGetFaster() {
        FakeClock c = new FakeClock();
        int[] call = {0};
        // 12 calls that each take 10% less than the one before, then steady.
        long calls = WarmUp.run(() -> {
            int k = call[0]++;
            c.now += k < 12 ? (long) (100_000_000 * Math.pow(0.9, k)) : 30_000_000L;
        }, 0, 1, Long.MAX_VALUE, () -> c.now, () -> c.jit);
        assertEquals(12 + WarmUp.STABLE_CALLS, calls);
    }

    @Test
    void aFinishedCompilationRestartsTheSteadyCount() {
        FakeClock c = new FakeClock();
        int[] call = {0};
        long calls = WarmUp.run(() -> {
            call[0]++;
            c.now += 1_000_000L;
            if (call[0] == 2) {
                c.jit += 5; // the JIT finished something during the second call
            }
        }, 0, 1, Long.MAX_VALUE, () -> c.now, () -> c.jit);
        assertEquals(2 + WarmUp.STABLE_CALLS, calls);
    }

    @Test
    void minimumCallsAndTimeApply() {
        FakeClock c = new FakeClock();
        long calls = WarmUp.run(() -> c.now += 1_000L, 0, 50, Long.MAX_VALUE, () -> c.now, () -> c.jit);
        assertEquals(50, calls);
        FakeClock d = new FakeClock();
        long timed = WarmUp.run(() -> d.now += 1_000L, 100_000L, 1, Long.MAX_VALUE, () -> d.now, () -> d.jit);
        assertEquals(100, timed);
    }

    @Test
    void stopsAtTheLimitWhenNeverSteady() {
        FakeClock c = new FakeClock();
        long[] took = {1_000_000_000L};
        long calls = WarmUp.run(() -> {
            c.now += took[0];
            took[0] = took[0] * 9 / 10;
        }, 0, 1, 3_000_000_000L, () -> c.now, () -> c.jit);
        assertTrue(c.now >= 3_000_000_000L && calls < 10, calls + " calls, " + c.now + " ns");
    }

    @Test
    void realClockOverloadReturns() {
        assertTrue(WarmUp.run(() -> { }, 1_000_000L, 3, 50_000_000L) >= 3);
    }
}
