/**
 * Attention: the online-softmax partial state and its merge ({@link dev.gale.kernels.attention.SoftmaxState}), the
 * naive double-precision reference ({@link dev.gale.kernels.attention.AttentionReference}), FlashAttention-2 prefill,
 * and the decode schedules (one pass per head, split-K flash-decoding, LeanAttention stream-K) over KV caches of
 * every precision.
 *
 * <h2>Conventions shared by every kernel of the family</h2>
 * <ul>
 *   <li>Heads: {@code Hq} query heads, {@code Hkv} KV heads, {@code Hq % Hkv == 0}; query head {@code h} reads KV head
 *       {@code h / (Hq / Hkv)} (GQA; MQA is {@code Hkv = 1}).</li>
 *   <li>Scores are {@code s_j = scale · q·k_j} in F32, {@code scale} usually {@code 1/√d}. Softmax uses natural
 *       exponentials.</li>
 *   <li>Masks: causal masks are bottom-right aligned (query {@code i} of {@code Nq} sees key {@code j} iff
 *       {@code j <= i + Nk − Nq}); a sliding window of {@code W} keeps only the last {@code W} of those keys; a
 *       key-padding mask (U8, 0 = padding) removes keys. A query row that sees no key outputs zeros, never NaN.</li>
 *   <li>Tensors are addressed through {@link dev.gale.kernels.attention.HeadView}: a segment, a byte offset and
 *       element strides per token and per head, so one kernel reads token-major activations
 *       ({@code [N][H][d]}, what projections produce) and head-major caches ({@code [H][capacity][d]}, what decode
 *       streams) alike.</li>
 *   <li>Partial results are online-softmax states {@code (m, l, Õ)} kept in F32 whatever the KV precision, and
 *       combined only through {@link dev.gale.kernels.attention.SoftmaxState#merge}.</li>
 * </ul>
 */
package dev.gale.kernels.attention;
