/**
 * llama.cpp's Q8_0 and Q4_0 weight formats and the matmuls over them: {@code Y[tokens][rows] = X[tokens][in] · Wᵀ}.
 *
 * <h2>Which class</h2>
 * <ul>
 *   <li><b>Decode (GEMV) on Q8 activations: the row lanes, {@link dev.gale.kernels.quant.Q4_0Lanes} and
 *       {@link dev.gale.kernels.quant.Q8_0Lanes}</b> (their shared schedule and operand:
 *       {@link dev.gale.kernels.quant.RowLaneGemv}); on F32 activations {@link dev.gale.kernels.quant.Q4_0Packed},
 *       {@link dev.gale.kernels.quant.Q8_0Packed} and {@link dev.gale.kernels.quant.Q8_0Blocks};
 *       {@code QuantMatMulOp.q4_0/q8_0(w, wOff, rows, in, arena)} packs the one this machine's decode runs. Made once
 *       at load with {@code pack(w, wOff, rows, in, arena)} from llama.cpp rows; then {@code matmulQ8Parallel} (F32
 *       in, quantized to Q8 inside), {@code matmulParallel(q8, y, yOff)} ({@link dev.gale.kernels.quant.Q8Activations})
 *       or {@code matmulF32Parallel(x, xOff, tokens, y, yOff)}, and single-thread row-range forms that allocate
 *       nothing. Several tokens loop over each cache-resident group (no token tile yet).</li>
 *   <li><b>Format I/O: {@link dev.gale.kernels.quant.Q4_0}, {@link dev.gale.kernels.quant.Q8_0}</b>: the GGUF byte
 *       layout, {@code quantize} (ggml's reference rounding) and {@code dequantize}. The packed classes
 *       {@code dequantizeRow} to the same values and {@code exportRow} back to the same bytes.</li>
 *   <li><b>Activations: {@link dev.gale.kernels.quant.Q8Activations}</b>: int8 blocks with F32 scales and block sums,
 *       in caller scratch.</li>
 *   <li><b>References and baselines on the load format: {@link dev.gale.kernels.quant.BlockMatmul}</b> with its
 *       two formats, {@link dev.gale.kernels.quant.Q4_0Matmul#INSTANCE} and
 *       {@link dev.gale.kernels.quant.Q8_0Matmul#INSTANCE}: scalar {@code reference}/{@code referenceF32} (the
 *       definition every kernel is tested against), and Vector API kernels that read the llama.cpp layout directly:
 *       the previous decode path (kept as the benchmark baseline), the 2-row × 4-token F32 tile, and
 *       {@link dev.gale.kernels.quant.Q8_0Blocks}'s F32-activation GEMV.</li>
 * </ul>
 *
 * <h2>Packed layouts</h2>
 * {@link dev.gale.kernels.quant.Q4_0Lanes}, {@link dev.gale.kernels.quant.Q8_0Lanes}: rows in groups of one vector's
 * 16-bit lanes, byte j of every row's block side by side, so the rows are the lanes and nothing is reduced across
 * lanes (a prefill panel's column is one load there too). The others: rows in groups of 4 (padded
 * with exact-zero rows); per group and 32-element block, the 4 rows' quants are
 * contiguous (Q4_0: 4 × 16 bytes in ggml's nibble order, byte j = element j low, element j + 16 high; Q8_0:
 * 4 × 32 bytes), and the 4 scales are F32 in a separate contiguous array. One activation load feeds 4 rows, each
 * group is one sequential stream, and no fp16 is converted in the hot loop. The copy is 20 bytes per Q4_0 block
 * (ggml: 18) and 36 per Q8_0 block (ggml: 34).
 *
 * <h2>Kernels and accuracy</h2>
 * Weights widen from quarter-width byte loads (part-0 conversions) to F32 and meet the activations in FMAs, one
 * scale FMA per row and block. With Q8 activations every block's integer sum is exact in F32 lanes, so results
 * equal the reference bit for bit whenever the block results are exact (unit scales, integer activations) and
 * otherwise differ only by the F32 summation order of block terms. With F32 activations results are within
 * {@link dev.gale.kernels.Numerics#dotBound} of the exact product over the terms the kernel adds (for packed Q4_0
 * the block sum starts at {@code −8·Σx} and adds {@code v·xl + hi·(xh − 16·xl)}, {@code v} the nibble byte: see
 * {@link dev.gale.kernels.quant.Q4_0Packed}). Lane reductions may associate differently before
 * and after C2 compiles a kernel, so repeated runs may differ in the last bits.
 *
 * <h2>W4A4 / W4A8</h2>
 * {@link dev.gale.kernels.quant.W4Weights} (group-wise W4), {@link dev.gale.kernels.quant.ActivationQuant} (per token
 * per 128-channel block A4/A8), {@link dev.gale.kernels.quant.FmpqPlan} (outlier permutation and precision map),
 * {@link dev.gale.kernels.quant.ChannelBlocks} (how an input of any width fills zero-padded blocks, A8 prefix first)
 * and {@link dev.gale.kernels.quant.W4AxMatmul} (reference and Vector API products); the graph op
 * {@link dev.gale.kernels.quant.W4AxMatMulOp} quantizes its input by a {@code ChannelBlocks} layout and multiplies
 * (the decoder's {@code --weights w4a4|w4a8}, docs/w4a4.md).
 *
 * <h2>Vector shapes</h2>
 * All species derive from {@code SPECIES_PREFERRED}; 256- and 512-bit shapes run the vector kernels, narrower ones
 * the scalar code ({@code BlockMatmul.path()} says which).
 */
package dev.gale.kernels.quant;
