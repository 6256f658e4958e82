/**
 * BERT-family sentence encoders (all-MiniLM-L6-v2, fp32 and int8) on Gale's CPU kernels.
 *
 * <p>{@link dev.gale.models.bert.WordPieceTokenizer} turns text into padded batches;
 * {@link dev.gale.models.bert.BertWeights} takes the weights from an ONNX graph;
 * {@link dev.gale.models.bert.BertEncoder} runs the post-LN encoder and pools. Attention goes through
 * {@link dev.gale.models.bert.BidirectionalAttention}: {@link dev.gale.models.bert.ReferenceBidirectionalAttention}
 * (the double-precision reference) until the FlashAttention-2 prefill kernel is adapted to that interface and passed
 * to {@code new BertEncoder(weights, attention)} (or made the default in {@code BertEncoder(BertWeights)}).
 */
package dev.gale.models.bert;
