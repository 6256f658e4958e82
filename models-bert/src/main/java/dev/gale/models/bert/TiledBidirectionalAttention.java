package dev.gale.models.bert;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED;

import dev.gale.core.cpu.WorkerPool;
import dev.gale.kernels.activation.VectorMath;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link BidirectionalAttention} for encoder-sized sentences as two small register-tiled products per (sentence,
 * head), with the whole score row in L1: {@code S = Q·Kᵀ·scale} (4 queries × 16 keys per tile, keys transposed once
 * per head), an exact softmax per row (max, {@link VectorMath#exp}, sum), then {@code O = P·V / l} (2 queries × 32
 * dims per tile). At BERT's shapes (128 tokens, 32 dims) a head is 4 KiB of Q, K and V each and a 128-key score row
 * fits in registers' reach, so FlashAttention's online rescaling (built for sequences whose scores do not fit) is pure
 * overhead there: this path does half the passes over the scores.
 *
 * <p>Padding keys (mask 0) are left out when K and V are packed; padded query rows are computed and never read.
 * Work items are (sentence, head) pairs split over {@link WorkerPool#shared()}; head dimensions that are not a
 * multiple of the vector length go to {@link FlashBidirectionalAttention}.
 */
public final class TiledBidirectionalAttention implements BidirectionalAttention {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    private final FlashBidirectionalAttention fallback = new FlashBidirectionalAttention();

    /** A group of heads' packed Q, Kᵀ and V, the real keys' positions, and 4 rows of scores with their sums. */
    private static final class Scratch {
        float[] q = new float[0];
        float[] kt = new float[0];
        float[] v = new float[0];
        float[] s = new float[0];
        float[] row = new float[0];
        int[] keys = new int[0];
        final float[] sums = new float[4];

        /** Room for {@code seq} tokens of {@code width} floats (the packed heads) and {@code keysPadded} keys. */
        void size(int seq, int width, int keysPadded) {
            if (q.length < seq * width || kt.length < width * keysPadded || v.length < keysPadded * width
                    || s.length < 4 * keysPadded || row.length < width || keys.length < seq) {
                q = new float[seq * width];
                kt = new float[width * keysPadded];
                v = new float[keysPadded * width];
                s = new float[4 * keysPadded];
                row = new float[width];
                keys = new int[seq];
            }
        }
    }

    @Override
    public void attend(MemorySegment q, MemorySegment k, MemorySegment v, MemorySegment out, MemorySegment keyMask,
            int batch, int seq, int heads, int headDim, float scale) {
        if (headDim % L != 0) {
            fallback.attend(q, k, v, out, keyMask, batch, seq, heads, headDim, scale);
            return;
        }
        // Heads are packed a sentence at a time (one copy per token row, not per head and row); a sentence's heads
        // are split into groups only when there are fewer sentences than threads.
        int groups = Math.min(heads, Math.max(1, (WorkerPool.shared().threads() + batch - 1) / batch));
        WorkerPool.shared().parallelFor(batch * groups, 1, (s, e) -> {
            Scratch sc = SCRATCH.get();
            for (int item = s; item < e; item++) {
                int g = item % groups;
                heads(q, k, v, out, keyMask, item / groups, g * heads / groups, (g + 1) * heads / groups, seq, heads,
                        headDim, scale, sc);
            }
        });
    }

    /** Heads {@code [h0, h1)} of sentence {@code b}. */
    private static void heads(MemorySegment q, MemorySegment k, MemorySegment v, MemorySegment out,
            MemorySegment keyMask, int b, int h0, int h1, int seq, int heads, int hd, float scale, Scratch sc) {
        int w = (h1 - h0) * hd;
        sc.size(seq, w, (seq + 2 * L - 1) / (2 * L) * 2 * L);
        int[] keys = sc.keys;
        int nk = 0;
        for (int t = 0; t < seq; t++) {
            if (keyMask.get(JAVA_BYTE, (long) b * seq + t) != 0) {
                keys[nk++] = t;
            }
        }
        long ld = 4L * heads * hd;
        long base = (long) b * seq * ld + 4L * h0 * hd;
        if (nk == 0) {
            for (int t = 0; t < seq; t++) {
                out.asSlice(base + t * ld, 4L * w).fill((byte) 0);
            }
            return;
        }
        // Keys padded to whole 2-vector tiles; padded score columns are never read (the softmax stops at nk).
        int np = (nk + 2 * L - 1) / (2 * L) * (2 * L);
        float[] qs = sc.q;
        float[] kt = sc.kt;
        float[] vs = sc.v;
        float[] row = sc.row;
        for (int t = 0; t < seq; t++) {
            MemorySegment.copy(q, JAVA_FLOAT_UNALIGNED, base + t * ld, qs, t * w, w);
        }
        for (int j = 0; j < np; j++) {
            if (j < nk) {
                MemorySegment.copy(k, JAVA_FLOAT_UNALIGNED, base + keys[j] * ld, row, 0, w);
                MemorySegment.copy(v, JAVA_FLOAT_UNALIGNED, base + keys[j] * ld, vs, j * w, w);
            } else {
                java.util.Arrays.fill(row, 0, w, 0f);
            }
            for (int c = 0; c < w; c++) {
                kt[c * np + j] = row[c];
            }
        }
        float[] s = sc.s;
        float[] sums = sc.sums;
        for (int h = 0; h < h1 - h0; h++) {
            int col = h * hd;
            for (int i0 = 0; i0 < seq; i0 += 4) {
                int rows = Math.min(4, seq - i0);
                scores(qs, i0 * w + col, w, rows, hd, kt, col * np, np, scale, s);
                for (int r = 0; r < rows; r++) {
                    sums[r] = softmax(s, r * np, nk);
                }
                for (int r = 0; r < rows; r += 2) {
                    int pair = Math.min(2, rows - r);
                    values(s, r * np, np, pair, nk, sums[r], pair > 1 ? sums[r + 1] : 1f, vs, col, w, hd, out,
                            base + (i0 + r) * ld + 4L * col, ld);
                }
            }
        }
    }

    /**
     * {@code s[r][j] = scale · Σ_d q[r][d]·kt[d][j]} for {@code rows ≤ 4} queries (at {@code qs[q0]}, {@code qw}
     * apart) and all np keys (Kᵀ rows at {@code kt[kt0 + d·np]}).
     */
    private static void scores(float[] qh, int q0, int qw, int rows, int hd, float[] kt, int kt0, int np, float scale,
            float[] s) {
        int q1 = q0 + (rows > 1 ? qw : 0);
        int q2 = q0 + (rows > 2 ? 2 * qw : 0);
        int q3 = q0 + (rows > 3 ? 3 * qw : 0);
        for (int j = 0; j < np; j += 2 * L) {
            FloatVector c00 = FloatVector.zero(F);
            FloatVector c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
            for (int d = 0, ki = kt0 + j; d < hd; d++, ki += np) {
                FloatVector k0 = FloatVector.fromArray(F, kt, ki);
                FloatVector k1 = FloatVector.fromArray(F, kt, ki + L);
                FloatVector b = FloatVector.broadcast(F, qh[q0 + d]);
                c00 = k0.fma(b, c00);
                c01 = k1.fma(b, c01);
                b = FloatVector.broadcast(F, qh[q1 + d]);
                c10 = k0.fma(b, c10);
                c11 = k1.fma(b, c11);
                b = FloatVector.broadcast(F, qh[q2 + d]);
                c20 = k0.fma(b, c20);
                c21 = k1.fma(b, c21);
                b = FloatVector.broadcast(F, qh[q3 + d]);
                c30 = k0.fma(b, c30);
                c31 = k1.fma(b, c31);
            }
            // Rows past `rows` repeat row 0's query and land in score rows that are never read.
            c00.mul(scale).intoArray(s, j);
            c01.mul(scale).intoArray(s, j + L);
            c10.mul(scale).intoArray(s, np + j);
            c11.mul(scale).intoArray(s, np + j + L);
            c20.mul(scale).intoArray(s, 2 * np + j);
            c21.mul(scale).intoArray(s, 2 * np + j + L);
            c30.mul(scale).intoArray(s, 3 * np + j);
            c31.mul(scale).intoArray(s, 3 * np + j + L);
        }
    }

    /**
     * Row {@code s[o, o + nk)} becomes {@code exp(s − max)}, unnormalised; returns its sum, by which {@link #values}
     * divides.
     */
    private static float softmax(float[] s, int o, int nk) {
        int bound = F.loopBound(nk);
        FloatVector mv = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        int j = 0;
        for (; j < bound; j += L) {
            mv = mv.max(FloatVector.fromArray(F, s, o + j));
        }
        float m = mv.reduceLanes(VectorOperators.MAX);
        for (; j < nk; j++) {
            m = Math.max(m, s[o + j]);
        }
        FloatVector lv = FloatVector.zero(F);
        for (j = 0; j < bound; j += L) {
            FloatVector p = VectorMath.exp(FloatVector.fromArray(F, s, o + j).sub(m));
            p.intoArray(s, o + j);
            lv = lv.add(p);
        }
        float l = lv.reduceLanes(VectorOperators.ADD);
        for (; j < nk; j++) {
            s[o + j] = VectorMath.exp(s[o + j] - m);
            l += s[o + j];
        }
        return l;
    }

    /**
     * {@code out[r] = Σ_j p[r][j]·v[j] / l_r} for {@code pair ≤ 2} rows of {@code p} (at {@code s[o]}, {@code np}
     * apart) with their sums {@code l0}, {@code l1}, the values at {@code vh[col + j·vw]}, 4 vectors of dimensions
     * at a time.
     */
    private static void values(float[] s, int o, int np, int pair, int nk, float l0, float l1, float[] vh, int col,
            int vw, int hd, MemorySegment out, long dst, long ld) {
        int o1 = pair > 1 ? o + np : o;
        int d = 0;
        for (; d + 4 * L <= hd; d += 4 * L) {
            FloatVector a0 = FloatVector.zero(F);
            FloatVector a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
            for (int j = 0, vi = col + d; j < nk; j++, vi += vw) {
                FloatVector v0 = FloatVector.fromArray(F, vh, vi);
                FloatVector v1 = FloatVector.fromArray(F, vh, vi + L);
                FloatVector v2 = FloatVector.fromArray(F, vh, vi + 2 * L);
                FloatVector v3 = FloatVector.fromArray(F, vh, vi + 3 * L);
                FloatVector p = FloatVector.broadcast(F, s[o + j]);
                a0 = v0.fma(p, a0);
                a1 = v1.fma(p, a1);
                a2 = v2.fma(p, a2);
                a3 = v3.fma(p, a3);
                p = FloatVector.broadcast(F, s[o1 + j]);
                b0 = v0.fma(p, b0);
                b1 = v1.fma(p, b1);
                b2 = v2.fma(p, b2);
                b3 = v3.fma(p, b3);
            }
            long at = dst + 4L * d;
            a0.div(l0).intoMemorySegment(out, at, LE);
            a1.div(l0).intoMemorySegment(out, at + 4L * L, LE);
            a2.div(l0).intoMemorySegment(out, at + 8L * L, LE);
            a3.div(l0).intoMemorySegment(out, at + 12L * L, LE);
            if (pair > 1) {
                b0.div(l1).intoMemorySegment(out, at + ld, LE);
                b1.div(l1).intoMemorySegment(out, at + ld + 4L * L, LE);
                b2.div(l1).intoMemorySegment(out, at + ld + 8L * L, LE);
                b3.div(l1).intoMemorySegment(out, at + ld + 12L * L, LE);
            }
        }
        for (; d < hd; d += L) {
            FloatVector a0 = FloatVector.zero(F);
            FloatVector b0 = a0;
            for (int j = 0, vi = col + d; j < nk; j++, vi += vw) {
                FloatVector v0 = FloatVector.fromArray(F, vh, vi);
                a0 = v0.fma(FloatVector.broadcast(F, s[o + j]), a0);
                b0 = v0.fma(FloatVector.broadcast(F, s[o1 + j]), b0);
            }
            a0.div(l0).intoMemorySegment(out, dst + 4L * d, LE);
            if (pair > 1) {
                b0.div(l1).intoMemorySegment(out, dst + ld + 4L * d, LE);
            }
        }
    }
}
