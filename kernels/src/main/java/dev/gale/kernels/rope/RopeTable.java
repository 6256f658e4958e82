package dev.gale.kernels.rope;

import dev.gale.core.ShapeMismatchException;

/**
 * Cos/sin tables for rotary embedding, computed once (in double, rounded to F32) for positions
 * {@code [0, maxPositions)} and one head dimension: pair {@code i} of a head at position {@code p} turns by the angle
 * {@code p · θ^(−2i/headDim)}, {@code i < headDim/2}. θ is 10 000 for Llama 2, 500 000 for Llama 3 (this class applies
 * no frequency scaling).
 *
 * <p>The tables are laid out for the layout's access pattern so the vector loop loads them with no shuffles:
 * <ul>
 *   <li>{@link RopeLayout#HALF_SPLIT}: {@code cos[p·d/2 + i]}, {@code sin[p·d/2 + i]};</li>
 *   <li>{@link RopeLayout#ADJACENT_PAIRS}: per element {@code j}, {@code cos[p·d + j] = cos θ_{j/2}} and a signed
 *       {@code sin[p·d + j] = ∓sin θ_{j/2}} (minus on even j), so {@code y = x·cos + swap(x)·sin}.</li>
 * </ul>
 * Immutable and safe to share between threads.
 */
public final class RopeTable {
    private final int maxPositions;
    private final int headDim;
    private final double theta;
    private final RopeLayout layout;
    final float[] cos;
    final float[] sin;

    /**
     * @param maxPositions positions the table covers (the context length)
     * @param headDim      the head dimension, even
     * @param theta        the base, &gt; 1 (1e4 Llama 2, 5e5 Llama 3)
     * @param layout       which elements are paired
     */
    public RopeTable(int maxPositions, int headDim, double theta, RopeLayout layout) {
        if (layout == null) {
            throw new IllegalArgumentException("rope: layout is null");
        }
        if (headDim < 2 || headDim % 2 != 0) {
            throw new ShapeMismatchException("rope: headDim must be even and >= 2, got " + headDim);
        }
        if (maxPositions < 1) {
            throw new ShapeMismatchException("rope: maxPositions must be >= 1, got " + maxPositions);
        }
        if (!(theta > 1) || Double.isInfinite(theta)) {
            throw new IllegalArgumentException("rope: theta must be finite and > 1, got " + theta);
        }
        int half = headDim / 2;
        long size = (long) maxPositions * (layout == RopeLayout.HALF_SPLIT ? half : headDim);
        if (size > Integer.MAX_VALUE - 16) {
            throw new ShapeMismatchException("rope: a table of " + maxPositions + " positions x " + headDim
                    + " is too large");
        }
        this.maxPositions = maxPositions;
        this.headDim = headDim;
        this.theta = theta;
        this.layout = layout;
        this.cos = new float[(int) size];
        this.sin = new float[(int) size];
        for (int p = 0; p < maxPositions; p++) {
            for (int i = 0; i < half; i++) {
                double angle = p * angleStep(theta, headDim, i);
                float c = (float) Math.cos(angle);
                float s = (float) Math.sin(angle);
                if (layout == RopeLayout.HALF_SPLIT) {
                    cos[p * half + i] = c;
                    sin[p * half + i] = s;
                } else {
                    int j = p * headDim + 2 * i;
                    cos[j] = c;
                    cos[j + 1] = c;
                    sin[j] = -s;
                    sin[j + 1] = s;
                }
            }
        }
    }

    /** The rotation speed of pair {@code i}: {@code θ^(−2i/headDim)} radians per position. */
    public static double angleStep(double theta, int headDim, int i) {
        return Math.pow(theta, -2.0 * i / headDim);
    }

    public int maxPositions() {
        return maxPositions;
    }

    public int headDim() {
        return headDim;
    }

    public double theta() {
        return theta;
    }

    public RopeLayout layout() {
        return layout;
    }

    /** cos of pair {@code i}'s angle at position {@code p}, as the kernels use it. */
    public float cos(int p, int i) {
        return layout == RopeLayout.HALF_SPLIT ? cos[p * (headDim / 2) + i] : cos[p * headDim + 2 * i];
    }

    /** sin of pair {@code i}'s angle at position {@code p}, as the kernels use it. */
    public float sin(int p, int i) {
        return layout == RopeLayout.HALF_SPLIT ? sin[p * (headDim / 2) + i] : sin[p * headDim + 2 * i + 1];
    }
}
