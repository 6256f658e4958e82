package dev.gale.models.bert;

/**
 * The shape of a BERT encoder, read from its weights' shapes (heads are not in the weights: all-MiniLM-L6-v2 has 12
 * of 32, the BERT convention of 64-wide heads would say 6).
 */
public record BertConfig(int vocab, int positions, int types, int hidden, int layers, int heads, int ffn, float eps) {
    public int headDim() {
        return hidden / heads;
    }
}
