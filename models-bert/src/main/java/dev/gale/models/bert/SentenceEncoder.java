package dev.gale.models.bert;

/**
 * Something that embeds a padded batch of sentences with a BERT encoder: {@link BertEncoder} (the direct CPU path)
 * or {@link BertGraphEncoder} (a task graph on any device).
 */
public interface SentenceEncoder {
    /** L2-normalised mean-pooled embeddings, one row of {@code hidden} per sentence. */
    float[][] embed(WordPieceTokenizer.Batch batch);

    BertConfig config();

    boolean int8();

    /** The device id this encoder runs on ({@code cpu}, {@code opencl:0}, …). */
    String deviceId();

    /** In words, which implementations ran the last {@link #embed} (every task and where it ran, summarised). */
    String ranOn();
}
