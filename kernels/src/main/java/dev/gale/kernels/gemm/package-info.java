/**
 * Linear-layer products: {@code Y[tokens][out] = X[tokens][in] · W[out][in]ᵀ} with F32 or F16 weights and F32
 * activations and outputs.
 *
 * <h2>API</h2>
 * Four classes, one per op, each with a scalar {@code reference} (double accumulation), a parallel Vector API entry
 * point on the shared {@link dev.gale.core.cpu.WorkerPool}, and a single-thread range entry point that allocates
 * nothing:
 * <ul>
 *   <li>{@link dev.gale.kernels.gemm.GemvF32}, {@link dev.gale.kernels.gemm.GemvF16}:
 *       {@code gemv(w, wOff, x, xOff, y, yOff, out, in)} and {@code rows(…, out, in, rowStart, rowEnd)};</li>
 *   <li>{@link dev.gale.kernels.gemm.GemmF32}, {@link dev.gale.kernels.gemm.GemmF16}:
 *       {@code gemm(w, wOff, x, xOff, y, yOff, tokens, out, in)} (tokens == 1 runs the GEMV) and
 *       {@code outputs(…, tokens, out, in, outStart, outEnd)};</li>
 *   <li>{@link dev.gale.kernels.gemm.GemmBlockScaled}: the same GEMM engine for block-scaled integer weights read
 *       through a {@link dev.gale.kernels.gemm.BlockScaledCodec} (W4A4/W4A8 prefill; its scalar reference is the
 *       format's own, {@code W4AxMatmul.reference}).</li>
 *   <li>{@link dev.gale.kernels.gemm.GemmPacked}: the same register tile on weights packed once at load
 *       ({@link dev.gale.kernels.gemm.PackedWeights}), all inputs in one pass, bias and GELU fused into the epilogue;
 *       and the int8 graphs' u8 × s8 layer on that F32 tile in exact 512-input chunks (bit for bit
 *       {@code GemmU8S8}). For a model's fixed weights (BERT's projections) where packing per call costs.</li>
 * </ul>
 * Operands are {@link java.lang.foreign.MemorySegment}s, little endian, row-major, at byte offsets (so slices of
 * larger buffers work); the order is always weights, activations, output, then dimensions. Every call validates the
 * segments against the declared shapes once and throws {@link dev.gale.core.ShapeMismatchException} naming the
 * operand, its shape and the segment size.
 *
 * <h2>Kernels</h2>
 * <ul>
 *   <li>GEMV ({@code GemvKernel}): four rows per pass sharing each activation load; F32 with two accumulators per
 *       row; F16 decoded in registers, by default from int lanes holding two halves with the 2^112 exponent rebias
 *       moved onto the activations, falling back to an exact widening decode for Inf/NaN weights or
 *       |x| ≥ 2^15.</li>
 *   <li>GEMM ({@code GemmKernel}): BLIS-style; per block of 256 inputs the activations are packed once, and per
 *       block of 256 outputs the weights are packed (F16 decoded) into F32 panels that stay in L2 while the tokens
 *       pass in L2-sized blocks of 96; an MR × NV register tile (4 × 2 vectors on AVX2, 4 × 3 with 512-bit vectors;
 *       {@code -Dgale.gemm.mr}, {@code -Dgale.gemm.nv}, {@code -Dgale.gemm.kc}, {@code -Dgale.gemm.nc},
 *       {@code -Dgale.gemm.mc} override) accumulates in registers; parallel over output panels, or over token
 *       groups when there are more tokens than outputs.</li>
 * </ul>
 *
 * <h2>Accuracy</h2>
 * Every output is within {@link dev.gale.kernels.Numerics#dotBound} of the exact dot product; NaN and infinities
 * propagate as in the reference. GEMV results may differ in the last bit between interpreted and compiled code
 * ({@code reduceLanes} order); GEMM results do not depend on threads or compilation.
 */
package dev.gale.kernels.gemm;
