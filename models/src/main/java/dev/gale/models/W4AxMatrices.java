package dev.gale.models;

import dev.gale.kernels.quant.ChannelBlocks;
import dev.gale.kernels.quant.W4Weights;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * A model's matrices in W4Ax form (W4 weights with A4, A8 or FMPQ-mixed activations) and how they were made. The
 * model's residual stream and feed-forward channels are already in FMPQ order (the permutations were folded into
 * the embedding, the norms and the matrices offline); the permutations are kept to describe and check the file.
 *
 * @param scheme              {@code w4a4} or {@code w4a8}
 * @param group               the weights' group size (32, 64 or 128)
 * @param span                activation channels per 128-channel block, the activation scale granularity (32, 64
 *                            or 128; {@link ChannelBlocks#split(int, int, int)})
 * @param activationClip      the A4 activation blocks' clip ratio, in (0, 1] ({@link ChannelBlocks#activationClip()})
 * @param fmpq                whether outlier channels were calibrated, permuted and kept A8 (false: naive W4A4,
 *                            or W4A8)
 * @param outlierFactor       the calibration threshold: a channel is an outlier when its calibration {@code max|x|}
 *                            exceeds this many times its layer input's median (0 when not calibrated)
 * @param residualOrder       {@code residualOrder[p]}: the original residual channel now at position {@code p}
 * @param ffnOrder            per layer, the original feed-forward channel at each position
 * @param matrices            per code tensor of the model's {@link LlamaWeights} (by identity), its W4 weights and
 *                            channel layout
 */
public record W4AxMatrices(String scheme, int group, int span, float activationClip, boolean fmpq, float outlierFactor, int[] residualOrder,
        List<int[]> ffnOrder, Map<WeightTensor, Matrix> matrices) {
    /** One matrix: its W4 weights (columns in {@code layout}'s order, zero-padded) and its input's layout. */
    public record Matrix(W4Weights weights, ChannelBlocks layout) {
    }

    public W4AxMatrices {
        residualOrder = residualOrder.clone();
        ffnOrder = ffnOrder.stream().map(int[]::clone).toList();
        IdentityHashMap<WeightTensor, Matrix> copy = new IdentityHashMap<>(matrices);
        matrices = Collections.unmodifiableMap(copy);
    }

    @Override
    public int[] residualOrder() {
        return residualOrder.clone();
    }

    /** Channels quantized to 8 bits over all matrices, and all channels (the A8 share). */
    public long[] eightBitShare() {
        long a8 = 0;
        long all = 0;
        for (Matrix m : matrices.values()) {
            a8 += m.layout().eightBitChannels();
            all += m.layout().in();
        }
        return new long[] {a8, all};
    }

    /** One line for reports: scheme, group, FMPQ and the A8 share. */
    public String describe() {
        long[] s = eightBitShare();
        return scheme + " g" + group + ", activation scales per " + span + " channels"
                + (activationClip < 1 ? " (A4 clipped at " + activationClip + "x)" : "") + (fmpq ? ", FMPQ (outliers > " + outlierFactor + "x median)" : ", no FMPQ")
                + ", " + s[0] + "/" + s[1] + " matrix input channels A8";
    }
}
