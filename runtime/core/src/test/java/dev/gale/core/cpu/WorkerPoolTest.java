package dev.gale.core.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class WorkerPoolTest {

    @Test
    void everyIndexRunsExactlyOnce() {
        try (WorkerPool pool = new WorkerPool(3)) {
            for (int n : new int[] {1, 2, 3, 7, 1000, 4097}) {
                for (int rep = 0; rep < 50; rep++) {
                    AtomicIntegerArray hits = new AtomicIntegerArray(n);
                    pool.parallelFor(n, (s, e) -> {
                        for (int i = s; i < e; i++) {
                            hits.incrementAndGet(i);
                        }
                    });
                    for (int i = 0; i < n; i++) {
                        assertEquals(1, hits.get(i), "n=" + n + " index " + i);
                    }
                }
            }
        }
    }

    @Test
    void balancedRunsEveryIndexOnceInChunksOfAtLeastTheGrain() {
        try (WorkerPool pool = new WorkerPool(2)) {
            for (int n : new int[] {1, 5, 64, 1000, 4097}) {
                for (int rep = 0; rep < 50; rep++) {
                    AtomicIntegerArray hits = new AtomicIntegerArray(n);
                    AtomicIntegerArray chunks = new AtomicIntegerArray(1);
                    pool.parallelForBalanced(n, 16, (s, e) -> {
                        chunks.incrementAndGet(0);
                        for (int i = s; i < e; i++) {
                            hits.incrementAndGet(i);
                        }
                    });
                    for (int i = 0; i < n; i++) {
                        assertEquals(1, hits.get(i), "n=" + n + " index " + i);
                    }
                    int expected = Math.min(8, Math.max(1, n / 16));
                    assertEquals(expected, chunks.get(0), "n=" + n + ": chunks of at least 16, at most 4 per thread");
                }
            }
        }
    }

    @Test
    void balancedLeavesALateWorkersChunksToTheCaller() throws Exception {
        try (WorkerPool pool = new WorkerPool(2)) {
            Thread caller = Thread.currentThread();
            AtomicIntegerArray byCaller = new AtomicIntegerArray(1);
            // The first chunk a worker claims sleeps: the caller must finish the rest meanwhile.
            AtomicBoolean slept = new AtomicBoolean();
            pool.parallelForBalanced(800, 100, (s, e) -> {
                if (Thread.currentThread() == caller) {
                    byCaller.incrementAndGet(0);
                } else if (slept.compareAndSet(false, true)) {
                    try {
                        Thread.sleep(200);
                    } catch (InterruptedException ex) {
                        Thread.currentThread().interrupt();
                    }
                }
            });
            assertTrue(byCaller.get(0) >= 7 || !slept.get(), "caller ran " + byCaller.get(0) + " of 8 chunks");
        }
    }

    @Test
    void grainLimitsTheChunkCount() {
        try (WorkerPool pool = new WorkerPool(4)) {
            AtomicIntegerArray chunks = new AtomicIntegerArray(1);
            pool.parallelFor(100, 60, (s, e) -> chunks.incrementAndGet(0));
            assertEquals(1, chunks.get(0));
        }
    }

    /**
     * A confined segment read by a pool thread: the caller gets a typed error that says what to do, with the JDK's
     * WrongThreadException as its cause. The caller's own chunk waits, so the other chunk runs on the worker.
     */
    @Test
    void confinedMemoryReadByAWorkerIsATypedError() {
        try (WorkerPool pool = new WorkerPool(2); Arena confined = Arena.ofConfined()) {
            MemorySegment seg = confined.allocate(64);
            Thread caller = Thread.currentThread();
            WorkerPool.RangeBody readOffTheCaller = (s, e) -> {
                if (Thread.currentThread() == caller) {
                    try {
                        Thread.sleep(200);
                    } catch (InterruptedException ex) {
                        Thread.currentThread().interrupt();
                    }
                } else {
                    seg.get(ValueLayout.JAVA_BYTE, 0);
                }
            };
            IllegalStateException got = assertThrows(IllegalStateException.class,
                    () -> pool.parallelFor(2, 1, readOffTheCaller));
            assertTrue(got.getMessage().contains("shared arena"), got.getMessage());
            assertTrue(got.getCause() instanceof WrongThreadException, String.valueOf(got.getCause()));
        }
    }

    @Test
    void failuresReachTheCaller() {
        try (WorkerPool pool = new WorkerPool(2)) {
            IllegalStateException boom = new IllegalStateException("boom");
            IllegalStateException got = assertThrows(IllegalStateException.class, () -> pool.parallelFor(10, (s, e) -> {
                if (s > 0) {
                    throw boom;
                }
            }));
            assertSame(boom, got);
            // The pool still works after a failure.
            AtomicIntegerArray hits = new AtomicIntegerArray(10);
            pool.parallelFor(10, (s, e) -> {
                for (int i = s; i < e; i++) {
                    hits.incrementAndGet(i);
                }
            });
            for (int i = 0; i < 10; i++) {
                assertEquals(1, hits.get(i));
            }
        }
    }

    @Test
    void concurrentAndNestedCallersNeitherDeadlockNorLoseWork() throws Exception {
        try (WorkerPool pool = new WorkerPool(2)) {
            ExecutorService callers = Executors.newFixedThreadPool(4);
            List<Future<Long>> results = new ArrayList<>();
            for (int c = 0; c < 4; c++) {
                results.add(callers.submit(() -> {
                    long total = 0;
                    for (int rep = 0; rep < 200; rep++) {
                        long[] sum = new long[1];
                        pool.parallelFor(64, (s, e) -> {
                            // Nested use runs inline on the calling thread.
                            pool.parallelFor(e - s, (a, b) -> {
                                synchronized (sum) {
                                    sum[0] += b - a;
                                }
                            });
                        });
                        total += sum[0];
                    }
                    return total;
                }));
            }
            for (Future<Long> f : results) {
                assertEquals(64L * 200, f.get());
            }
            callers.shutdown();
        }
    }

    /**
     * Jobs with different chunk counts back to back, on more threads than cores: a worker still looking at the last
     * job must not claim a chunk of the next one by its counter. (It did: with 16 threads a Q4_0 decode failed with
     * a null body, because the chunk count a stale worker compared against was the next job's.)
     */
    @Test
    void aStaleWorkerNeverRunsAChunkOfAnotherJob() {
        try (WorkerPool pool = new WorkerPool(16)) {
            int[] sizes = {2, 16, 3, 1000, 5, 64, 17, 9};
            for (int rep = 0; rep < 4000; rep++) {
                int n = sizes[rep % sizes.length];
                int grain = 1 + rep % 3;
                AtomicIntegerArray hits = new AtomicIntegerArray(n);
                pool.parallelFor(n, grain, (s, e) -> {
                    for (int i = s; i < e; i++) {
                        hits.incrementAndGet(i);
                    }
                });
                for (int i = 0; i < n; i++) {
                    assertEquals(1, hits.get(i), "rep " + rep + ", n=" + n + " index " + i);
                }
            }
        }
    }
}
