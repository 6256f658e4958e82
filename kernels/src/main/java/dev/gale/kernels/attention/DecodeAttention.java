package dev.gale.kernels.attention;

import static dev.gale.kernels.Operands.F32;

import dev.gale.core.cpu.WorkerPool;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * Decode attention on the CPU: one new query per sequence against any {@link DecodeKv}, run from a {@link WorkList}
 * in two phases (papers.md §3.4 (b)). The partial pass runs exactly one task per list worker on
 * {@link WorkerPool#shared()}; each folds its segments into their own partial-state slots. The merge pass then combines
 * each (tile, row)'s slots in slot (token) order and normalises, so the result does not depend on thread timing, and
 * nobody waits on anybody: no spin-waits, no deadlock.
 *
 * <p>Queries are {@code [seq][Hq][d]} F32 and multiplied by the score scale once per call; the output is
 * {@code [seq][Hq][d]} F32, zeros for a sequence with no cached token. A runner holds scratch (per-worker block
 * scratch, the scaled queries, the partial states) and reuses it, growing it only when a call needs more, so a decode
 * step at a steady shape allocates nothing. One runner serves one thread at a time.
 */
public final class DecodeAttention {
    private final WorkerPool pool;
    private float[][] workerScratch = new float[0][];
    private float[] qs = new float[0];
    private float[] partials = new float[0];
    // The call in progress, read by the two pre-built pool bodies (capturing lambdas would allocate per call).
    private DecodeKv kv;
    private WorkList list;
    private int g;
    private int d;
    private int piece;
    private MemorySegment out;
    private long outOff;
    private final WorkerPool.RangeBody partialBody = this::partialWorkers;
    private final WorkerPool.RangeBody mergeBody = this::mergeTiles;

    public DecodeAttention(WorkerPool pool) {
        this.pool = pool;
    }

    public DecodeAttention() {
        this(WorkerPool.shared());
    }

    /** Workers a CPU list should have: one per pool thread. */
    public int workers() {
        return pool.threads();
    }

    /**
     * Attention of {@code heads} query heads at {@code q[qOff …]} over {@code kv}, as {@code list} schedules it,
     * into {@code out[outOff …]}.
     */
    public void run(DecodeKv kv, WorkList list, int heads, float scale, MemorySegment q, long qOff,
            MemorySegment out, long outOff) {
        int tiles = kv.sequences() * kv.kvHeads();
        if (list.tiles() != tiles || heads % kv.kvHeads() != 0) {
            throw new IllegalArgumentException("decode attention: list has " + list.tiles() + " tiles, cache "
                    + tiles + "; heads " + heads + " vs kv heads " + kv.kvHeads());
        }
        int dd = kv.headDim();
        long qFloats = (long) kv.sequences() * heads * dd;
        if (qOff + 4 * qFloats > q.byteSize() || outOff + 4 * qFloats > out.byteSize()) {
            throw new IllegalArgumentException("decode attention: q or out holds fewer than " + qFloats + " floats");
        }
        this.kv = kv;
        this.list = list;
        this.g = heads / kv.kvHeads();
        this.d = dd;
        this.out = out;
        this.outOff = outOff;
        // Pieces per accumulate call: a multiple of the cache's alignment, so boundaries stay aligned.
        int align = Math.max(1, kv.blockAlign());
        this.piece = (DenseKv.SPAN + align - 1) / align * align;
        prepare((int) qFloats, list.slots() * g * (dd + 2), list.workers(), kv.scratchFloats(piece, g));
        // One bulk copy, then the scaling in the array (see SoftmaxState#normalise for why not per element).
        MemorySegment.copy(q, F32, qOff, qs, 0, (int) qFloats);
        for (int i = 0; i < qFloats; i++) {
            qs[i] *= scale;
        }
        try {
            pool.parallelFor(list.workers(), 1, partialBody);
            pool.parallelFor(tiles, 1, mergeBody);
        } finally {
            this.kv = null;
            this.list = null;
            this.out = null;
        }
    }

    private void prepare(int qFloats, int partialFloats, int workers, int scratchFloats) {
        if (qs.length < qFloats) {
            qs = new float[qFloats];
        }
        if (partials.length < partialFloats) {
            partials = new float[partialFloats];
        }
        if (workerScratch.length < workers) {
            workerScratch = Arrays.copyOf(workerScratch, workers);
        }
        for (int w = 0; w < workers; w++) {
            if (workerScratch[w] == null || workerScratch[w].length < scratchFloats) {
                workerScratch[w] = new float[scratchFloats];
            }
        }
    }

    /** The partial pass of workers {@code [w0, w1)}: each folds its segments into their slots. */
    private void partialWorkers(int w0, int w1) {
        int[] seg = list.segments();
        int[] start = list.workerStart();
        int kvHeads = kv.kvHeads();
        int stride = (d + 2) * g;
        for (int w = w0; w < w1; w++) {
            float[] scratch = workerScratch[w];
            for (int s = start[w]; s < start[w + 1]; s++) {
                int tile = seg[s * WorkList.SEG];
                int from = seg[s * WorkList.SEG + 1];
                int to = seg[s * WorkList.SEG + 2];
                int slot = seg[s * WorkList.SEG + 3];
                int seq = tile / kvHeads;
                int kh = tile % kvHeads;
                int stOff = slot * stride;
                SoftmaxState.reset(partials, stOff, g, d);
                // The query rows of tile (seq, kh) are heads kh·g … kh·g+g−1 of sequence seq: (tile·g + r)·d.
                for (int t = from; t < to; t += piece) {
                    kv.accumulate(seq, kh, t, Math.min(to, t + piece), qs, tile * g * d, g, partials, stOff,
                            scratch);
                }
            }
        }
    }

    /** The merge pass of tiles {@code [t0, t1)}: slots merged in order into the first, then normalised. */
    private void mergeTiles(int t0, int t1) {
        int[] tileSlots = list.tileSlots();
        int stride = d + 2;
        for (int t = t0; t < t1; t++) {
            for (int r = 0; r < g; r++) {
                long o = outOff + 4L * (t * g + r) * d;
                int first = tileSlots[t];
                if (first == tileSlots[t + 1]) {
                    out.asSlice(o, 4L * d).fill((byte) 0);
                    continue;
                }
                int a = (first * g + r) * stride;
                for (int s = first + 1; s < tileSlots[t + 1]; s++) {
                    SoftmaxState.merge(partials, a, partials, (s * g + r) * stride, d);
                }
                SoftmaxState.normalise(partials, a, d, out, o);
            }
        }
    }

    /**
     * The reference: {@link AttentionReference} per sequence over a dense cache's views, for {@code [seq][Hq][d]}
     * queries and outputs.
     */
    public static void reference(DenseKv kv, AttentionSpec spec, MemorySegment q, long qOff, MemorySegment out,
            long outOff) {
        int d = spec.headDim();
        long seqBytes = 4L * spec.heads() * d;
        for (int s = 0; s < kv.sequences(); s++) {
            HeadView qv = HeadView.tokenMajor(q, qOff + s * seqBytes, spec.heads(), d);
            HeadView ov = HeadView.tokenMajor(out, outOff + s * seqBytes, spec.heads(), d);
            AttentionReference.attend(spec, qv, kv.keys(s), kv.values(s), ov, 1, kv.length(s), null, 0, null, null);
        }
    }
}
