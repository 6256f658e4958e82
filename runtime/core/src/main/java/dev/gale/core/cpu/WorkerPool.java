package dev.gale.core.cpu;

import dev.gale.core.GaleException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * The one pool of CPU worker threads every Gale op shares. A {@code parallelFor} cuts a range into contiguous chunks
 * that the caller and the workers claim; the caller always works too, so a pool of n threads has n - 1 workers.
 *
 * <p>Why not a ForkJoinPool: decode launches hundreds of short ops per token, and on 2 cores the cost of waking a
 * parked thread for each one is a measurable share of a 100 µs op. Workers here spin briefly before parking, and a
 * launch allocates nothing. If the pool is already busy (a second plan running on another thread, or a nested call)
 * the caller runs the whole range itself instead of waiting, so nothing can deadlock.
 */
public final class WorkerPool implements AutoCloseable {
    /** A body run over {@code [start, end)}. */
    @FunctionalInterface
    public interface RangeBody {
        void run(int start, int end);
    }

    private static final long SPIN_NANOS = 50_000;
    /** Chunks per thread of {@link #parallelForBalanced} ({@code -Dgale.pool.chunksPerThread}, 1 to compare). */
    private static final int STEAL_CHUNKS_PER_THREAD = Math.max(1, Integer.getInteger("gale.pool.chunksPerThread", 4));
    private static volatile WorkerPool shared;

    private final int threads;
    private final Thread[] workers;
    private final AtomicBoolean busy = new AtomicBoolean();
    /**
     * The claim word. Bits 63-32: the job's id; 31-16: its chunk count; 15-0: the next unclaimed chunk. The count
     * lives in the word, not in a field, so a worker still looking at a finished job compares its counter with that
     * job's count: once the last chunk is claimed no claim on the old id can succeed, and a successful claim proves
     * the job fields it read were that job's (the next job is set up only after every chunk was claimed).
     */
    private final AtomicLong claim = new AtomicLong();
    private static final int MAX_THREADS = 0xFFFF;
    private final AtomicInteger pendingChunks = new AtomicInteger();
    private volatile int generation;
    private volatile boolean closed;
    private volatile Throwable failure;
    private volatile Thread caller;
    // Job fields, published by the volatile write of generation.
    private RangeBody body;
    private int n;
    private int chunkSize;
    private int jobId;

    public WorkerPool(int threads) {
        if (threads < 1 || threads > MAX_THREADS) {
            throw new IllegalArgumentException("a pool has 1 to " + MAX_THREADS + " threads, got " + threads);
        }
        this.threads = threads;
        this.workers = new Thread[threads - 1];
        for (int i = 0; i < workers.length; i++) {
            Thread t = new Thread(this::workerLoop, "gale-worker-" + (i + 1));
            t.setDaemon(true);
            workers[i] = t;
            t.start();
        }
    }

    /**
     * The process-wide pool: {@code -Dgale.threads=N}, else {@link Runtime#availableProcessors()}.
     */
    public static WorkerPool shared() {
        WorkerPool p = shared;
        if (p == null) {
            synchronized (WorkerPool.class) {
                p = shared;
                if (p == null) {
                    int n = Integer.getInteger("gale.threads", Runtime.getRuntime().availableProcessors());
                    shared = p = new WorkerPool(Math.max(1, n));
                }
            }
        }
        return p;
    }

    public int threads() {
        return threads;
    }

    /** Runs {@code body} over {@code [0, n)} split into at most {@link #threads()} contiguous chunks. */
    public void parallelFor(int n, RangeBody body) {
        parallelFor(n, 1, body);
    }

    /**
     * Runs {@code body} over {@code [0, n)} in contiguous chunks of at least {@code grain} items, one chunk per
     * thread at most. Returns when every chunk is done; rethrows the first failure.
     */
    public void parallelFor(int n, int grain, RangeBody body) {
        parallelFor(n, grain, threads, body);
    }

    /**
     * Like {@link #parallelFor(int, int, RangeBody)}, but cut into up to {@link #STEAL_CHUNKS_PER_THREAD} (4) chunks per
     * thread, claimed in order: a thread that starts late (a worker still waking from park, or preempted by another
     * process) leaves its later chunks to the threads already running instead of making them wait for it, so the
     * wall time is about the total work over the threads plus one chunk rather than one share plus the latecomer's
     * delay. For long bandwidth-bound loops (the decode GEMVs) whose chunks stay long sequential streams; each chunk
     * still covers at least {@code grain} items.
     */
    public void parallelForBalanced(int n, int grain, RangeBody body) {
        parallelFor(n, grain, threads == 1 ? 1 : threads * STEAL_CHUNKS_PER_THREAD, body);
    }

    private void parallelFor(int n, int grain, int maxChunks, RangeBody body) {
        if (n <= 0) {
            return;
        }
        // The claim word holds the chunk count in 16 bits.
        int chunkCount = (int) Math.min(Math.min(maxChunks, 0xFFFF), Math.max(1, n / Math.max(1, grain)));
        if (chunkCount == 1 || closed || !busy.compareAndSet(false, true)) {
            body.run(0, n);
            return;
        }
        try {
            this.body = body;
            this.n = n;
            this.chunkSize = (n + chunkCount - 1) / chunkCount;
            this.failure = null;
            this.caller = Thread.currentThread();
            pendingChunks.set(chunkCount);
            int id = ++jobId;
            claim.set((long) id << 32 | (long) chunkCount << 16);
            generation = id;
            for (Thread w : workers) {
                LockSupport.unpark(w);
            }
            runChunks(id);
            long spinUntil = System.nanoTime() + SPIN_NANOS;
            while (pendingChunks.get() > 0) {
                if (System.nanoTime() < spinUntil) {
                    Thread.onSpinWait();
                } else {
                    LockSupport.parkNanos(this, 20_000);
                }
            }
            Throwable t = failure;
            this.body = null;
            if (t != null) {
                if (t instanceof WrongThreadException wrong) {
                    // A segment from a confined arena: its owner, the caller, may read it; the pool's threads may not.
                    throw new IllegalStateException("a parallel task read memory confined to the calling thread ("
                            + wrong.getMessage() + "): allocate what a parallel op reads or writes from a shared "
                            + "arena (Arena.ofShared(), Arena.global(), Arena.ofAuto())", wrong);
                }
                if (t instanceof RuntimeException re) {
                    throw re;
                }
                if (t instanceof Error e) {
                    throw e;
                }
                throw new GaleException("parallel task failed", t);
            }
        } finally {
            busy.set(false);
        }
    }

    private void runChunks(int id) {
        while (true) {
            long v = claim.get();
            if ((int) (v >>> 32) != id) {
                return;
            }
            // Read the job before claiming: a successful claim proves the job was still this one.
            RangeBody b = body;
            int total = n;
            int size = chunkSize;
            int c = (int) v & 0xFFFF;
            if (c >= ((int) v >>> 16 & 0xFFFF)) {
                return;
            }
            if (!claim.compareAndSet(v, v + 1)) {
                continue;
            }
            int start = c * size;
            int end = Math.min(total, start + size);
            try {
                if (start < end) {
                    b.run(start, end);
                }
            } catch (Throwable t) {
                if (failure == null) {
                    failure = t;
                }
            } finally {
                if (pendingChunks.decrementAndGet() == 0) {
                    LockSupport.unpark(caller);
                }
            }
        }
    }

    private void workerLoop() {
        int seen = 0;
        while (!closed) {
            long spinUntil = System.nanoTime() + SPIN_NANOS;
            while (generation == seen && !closed) {
                if (System.nanoTime() < spinUntil) {
                    Thread.onSpinWait();
                } else {
                    LockSupport.park(this);
                }
            }
            if (closed) {
                return;
            }
            seen = generation;
            runChunks(seen);
        }
    }

    @Override
    public void close() {
        closed = true;
        for (Thread w : workers) {
            LockSupport.unpark(w);
        }
    }
}
