package dev.gale.kernels.attention;

import dev.gale.core.kernel.Const;
import dev.gale.core.kernel.DeviceFunction;
import dev.gale.core.kernel.F16;
import dev.gale.core.kernel.F32;
import dev.gale.core.kernel.I32;
import dev.gale.core.kernel.KMath;
import dev.gale.core.kernel.Kernel;
import dev.gale.core.kernel.KernelContext;

/**
 * Device kernels of the KIVI cache ({@link KiviCache}'s buffers and layout, F16 residual windows): quantize-on-append
 * and the fused-dequant decode partial pass. Lengths are the host's ({@code lengths[seq]} before the append); the
 * host bumps them after {@link #kiviAppend}.
 *
 * <p>Both kernels quantize and dequantize exactly as {@link KiviQuantizer}: codes by the threshold rule (bit-identical
 * to the CPU whatever the device's division accuracy), {@code 1/levels} passed in as a float.
 */
public final class KvQuantKernels {
    private KvQuantKernels() {
    }

    /** {@link KiviQuantizer#code}, the same operations. */
    @DeviceFunction
    static int code(float x, float z, float s, int levels) {
        int q = 0;
        if (s > 0.0f) {
            float r = x - z;
            q = KMath.max(0, KMath.min(levels, (int) (r / s + 0.5f)));
            if (q < levels && r >= ((float) q + 0.5f) * s) {
                q = q + 1;
            }
            if (q > 0 && r < ((float) q - 0.5f) * s) {
                q = q - 1;
            }
        }
        return q;
    }

    /**
     * Appends token {@code token} of a batch to every sequence: {@code k, v} are {@code [token][seq][kvHeads][d]} F32,
     * and the token lands at position {@code lengths[seq] + token}. A prompt of T tokens is T launches, token 0 to
     * T−1, on one in-order queue: a token's quantization of a full window must see the tokens before it, which a
     * launch boundary orders and a work group barrier could not (the window spans work groups). One item per
     * (sequence, KV head, channel), {@code Grid.of1(roundUp(seqs·kvHeads·d, local), local)}. Item {@code c} owns key channel {@code c}:
     * it writes the key to the residual window and, when the window fills, quantizes that channel's {@code R/G} token
     * groups and clears its column. Items {@code c < d/G} also own value channel group {@code c}: when the value
     * window is full they quantize the oldest token's group from the ring slot, then write the new token's group
     * into it. Every item touches only its own channel or group, so no barrier is needed.
     */
    @Kernel
    public static void kiviAppend(KernelContext ctx, F32 k, F32 v, I32 lengths, I32 keyCodes, F32 keyScale,
            F32 keyZero, I32 valueCodes, F32 valueScale, F32 valueZero, F16 keyRes, F16 valueRes, int token,
            int seqs, int kvHeads, int d, int bits, int group, int residual, int capacity, float invLevels) {
        int id = ctx.globalId(0);
        if (id >= seqs * kvHeads * d) {
            return;
        }
        int c = id % d;
        int tile = id / d;
        int seq = tile / kvHeads;
        int len = lengths.get(seq) + token;
        int kq = len - len % residual;
        int vq = KMath.max(0, len - residual);
        int levels = (1 << bits) - 1;
        int perWord = 32 / bits;
        int gw = group * bits / 32;
        int vw = d * bits / 32;
        int vg = d / group;
        long src = ((long) token * seqs * kvHeads + tile) * d;
        if (c < vg) {
            long ring = ((long) tile * residual + len % residual) * d + (long) c * group;
            if (len - vq == residual) {
                float mn = valueRes.get(ring);
                float mx = mn;
                for (int i = 1; i < group; i++) {
                    float x = valueRes.get(ring + i);
                    mn = KMath.min(mn, x);
                    mx = KMath.max(mx, x);
                }
                float s = (mx - mn) * invLevels;
                long codes = ((long) tile * capacity + vq) * vw + (long) c * gw;
                for (int w = 0; w < gw; w++) {
                    int word = 0;
                    for (int j = 0; j < perWord; j++) {
                        word = word | (code(valueRes.get(ring + w * perWord + j), mn, s, levels) << (j * bits));
                    }
                    valueCodes.set(codes + w, word);
                }
                long sz = ((long) tile * capacity + vq) * vg + c;
                valueScale.set(sz, s);
                valueZero.set(sz, mn);
            }
            for (int i = 0; i < group; i++) {
                valueRes.set(ring + i, v.get(src + (long) c * group + i));
            }
        }
        long col = (long) tile * residual * d + c;
        keyRes.set(col + (long) (len - kq) * d, k.get(src + c));
        if (len + 1 - kq == residual) {
            for (int j = 0; j < residual / group; j++) {
                long first = col + (long) j * group * d;
                float mn = keyRes.get(first);
                float mx = mn;
                for (int i = 1; i < group; i++) {
                    float x = keyRes.get(first + (long) i * d);
                    mn = KMath.min(mn, x);
                    mx = KMath.max(mx, x);
                }
                float s = (mx - mn) * invLevels;
                long gi = (long) tile * (capacity / group) + kq / group + j;
                long codes = (gi * d + c) * gw;
                for (int w = 0; w < gw; w++) {
                    int word = 0;
                    for (int i = 0; i < perWord; i++) {
                        float x = keyRes.get(first + (long) (w * perWord + i) * d);
                        word = word | (code(x, mn, s, levels) << (i * bits));
                    }
                    keyCodes.set(codes + w, word);
                }
                keyScale.set(gi * d + c, s);
                keyZero.set(gi * d + c, mn);
            }
            for (int t = 0; t < residual; t++) {
                keyRes.set(col + (long) t * d, 0.0f);
            }
        }
    }

    /**
     * Decode partial pass over a work list (the family's device convention): one work group of {@code local} items
     * per worker, {@code Grid.of1(workers·local, local)}; {@code q} is {@code [seq][kvHeads·g][d]} F32, multiplied
     * by {@code scale} here; each segment {@code [tile, from, to, slot]} ({@code from} on a group boundary) writes the
     * {@code g} states at {@code partials[(slot·g + r)·(d + 2)]}.
     *
     * <p>Per block of {@code G} tokens: {@code q·s} and {@code q·z} of the key group (KIVI's factorisation), one item
     * per (row, token) for the scores, one item per row for the online-softmax step, one item per (row, channel) for
     * the values, which accumulate {@code (p·s)·code + p·z} per token. Local arrays are sized by {@code gd = g·d},
     * {@code gG = g·G} and {@code gn = g}.
     */
    @Kernel
    public static void kiviDecodePartial(KernelContext ctx, I32 segments, I32 workerStart, F32 q, F32 partials,
            I32 keyCodes, F32 keyScale, F32 keyZero, I32 valueCodes, F32 valueScale, F32 valueZero, F16 keyRes,
            F16 valueRes, I32 lengths, int kvHeads, int d, int g, int bits, int group, int residual, int capacity,
            float scale, @Const int gd, @Const int gG, @Const int gn) {
        float[] qs = ctx.localFloats(gd);
        float[] qk = ctx.localFloats(gd);
        float[] acc = ctx.localFloats(gd);
        float[] p = ctx.localFloats(gG);
        float[] qz = ctx.localFloats(gn);
        float[] m = ctx.localFloats(gn);
        float[] l = ctx.localFloats(gn);
        float[] corr = ctx.localFloats(gn);
        int lid = ctx.localId(0);
        int size = ctx.localSize(0);
        int w = ctx.groupId(0);
        int levels = (1 << bits) - 1;
        int perWord = 32 / bits;
        int gw = group * bits / 32;
        int vw = d * bits / 32;
        int vg = d / group;
        int groups = capacity / group;
        for (int sgi = workerStart.get(w); sgi < workerStart.get(w + 1); sgi++) {
            int tile = segments.get(4L * sgi);
            int from = segments.get(4L * sgi + 1);
            int to = segments.get(4L * sgi + 2);
            int slot = segments.get(4L * sgi + 3);
            int seq = tile / kvHeads;
            int kh = tile % kvHeads;
            int len = lengths.get(seq);
            int kq = len - len % residual;
            int vq = KMath.max(0, len - residual);
            long qBase = ((long) seq * kvHeads * g + (long) kh * g) * d;
            for (int i = lid; i < g * d; i += size) {
                qs[i] = q.get(qBase + i) * scale;
                acc[i] = 0.0f;
            }
            for (int r = lid; r < g; r += size) {
                m[r] = -3.0e38f;
                l[r] = 0.0f;
            }
            ctx.barrier();
            for (int t0 = from; t0 < to; t0 += group) {
                int n = KMath.min(group, to - t0);
                int quant = t0 + n <= kq ? 1 : 0;
                long gi = (long) tile * groups + t0 / group;
                if (quant == 1) {
                    for (int i = lid; i < g * d; i += size) {
                        qk[i] = qs[i] * keyScale.get(gi * d + i % d);
                    }
                    for (int r = lid; r < g; r += size) {
                        float z = 0.0f;
                        for (int c = 0; c < d; c++) {
                            z += qs[r * d + c] * keyZero.get(gi * d + c);
                        }
                        qz[r] = z;
                    }
                    ctx.barrier();
                }
                for (int i = lid; i < g * group; i += size) {
                    int r = i / group;
                    int j = i % group;
                    if (j < n) {
                        float sc = 0.0f;
                        if (quant == 1) {
                            long words = gi * d * gw + j / perWord;
                            int shift = (j % perWord) * bits;
                            sc = qz[r];
                            for (int c = 0; c < d; c++) {
                                int cd = (keyCodes.get(words + (long) c * gw) >>> shift) & levels;
                                sc += qk[r * d + c] * (float) cd;
                            }
                        } else {
                            long row = ((long) tile * residual + (t0 + j - kq)) * d;
                            for (int c = 0; c < d; c++) {
                                sc += qs[r * d + c] * keyRes.get(row + c);
                            }
                        }
                        p[i] = sc;
                    }
                }
                ctx.barrier();
                for (int r = lid; r < g; r += size) {
                    float mb = p[r * group];
                    for (int j = 1; j < n; j++) {
                        mb = KMath.max(mb, p[r * group + j]);
                    }
                    float mn = KMath.max(m[r], mb);
                    float cr = 0.0f;
                    if (l[r] > 0.0f) {
                        cr = KMath.exp(m[r] - mn);
                    }
                    float sum = 0.0f;
                    for (int j = 0; j < n; j++) {
                        float e = KMath.exp(p[r * group + j] - mn);
                        p[r * group + j] = e;
                        sum += e;
                    }
                    l[r] = cr * l[r] + sum;
                    m[r] = mn;
                    corr[r] = cr;
                }
                ctx.barrier();
                for (int i = lid; i < g * d; i += size) {
                    int r = i / d;
                    int e = i % d;
                    float a = acc[i] * corr[r];
                    for (int j = 0; j < n; j++) {
                        int t = t0 + j;
                        float pj = p[r * group + j];
                        if (t < vq) {
                            long tok = (long) tile * capacity + t;
                            int cd = (valueCodes.get(tok * vw + e / perWord) >>> ((e % perWord) * bits)) & levels;
                            long sz = tok * vg + e / group;
                            a += (pj * valueScale.get(sz)) * (float) cd + pj * valueZero.get(sz);
                        } else {
                            a += pj * valueRes.get(((long) tile * residual + t % residual) * d + e);
                        }
                    }
                    acc[i] = a;
                }
                ctx.barrier();
            }
            long out = (long) slot * g * (d + 2);
            for (int i = lid; i < g * d; i += size) {
                partials.set(out + (long) (i / d) * (d + 2) + 2 + i % d, acc[i]);
            }
            for (int r = lid; r < g; r += size) {
                partials.set(out + (long) r * (d + 2), m[r]);
                partials.set(out + (long) r * (d + 2) + 1, l[r]);
            }
            ctx.barrier();
        }
    }
}
