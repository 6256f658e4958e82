package dev.gale.cli;

import java.io.IOException;
import java.io.OutputStream;
import java.io.Writer;
import java.nio.channels.Channels;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.Float4Vector;
import org.apache.arrow.vector.IntVector;
import org.apache.arrow.vector.VarCharVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.complex.FixedSizeListVector;
import org.apache.arrow.vector.ipc.ArrowFileWriter;
import org.apache.arrow.vector.types.FloatingPointPrecision;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.FieldType;

/**
 * Writes {@code gale embed}'s output. Both formats carry, per sentence, the text, its token count ([CLS] and [SEP]
 * included), the tokens cut by truncation, and the embedding.
 * <ul>
 *   <li>JSON: {@code {"model", "dimensions", "sentences": [{"text", "tokens", "truncated_tokens", "embedding"}]}};
 *       floats in their shortest round-trip decimal form, so reading them back gives the same float bits.</li>
 *   <li>Arrow IPC file, one record batch: {@code text} (utf8), {@code tokens} and {@code truncated_tokens} (int32),
 *       {@code embedding} (fixed_size_list&lt;float32&gt;[dimensions]); the model name is schema metadata.</li>
 * </ul>
 */
final class EmbeddingWriter {
    static final String TEXT = "text";
    static final String TOKENS = "tokens";
    static final String TRUNCATED = "truncated_tokens";
    static final String EMBEDDING = "embedding";

    private EmbeddingWriter() {
    }

    static void json(Writer w, String model, List<String> sentences, SentenceEmbedder.Result r) throws IOException {
        int dims = r.embeddings()[0].length;
        w.write("{\"model\": " + quote(model) + ", \"dimensions\": " + dims + ", \"sentences\": [");
        for (int i = 0; i < sentences.size(); i++) {
            w.write(i == 0 ? "\n" : ",\n");
            w.write("  {\"text\": " + quote(sentences.get(i)) + ", \"tokens\": " + r.tokens()[i]
                    + ", \"truncated_tokens\": " + r.dropped()[i] + ", \"embedding\": [");
            StringBuilder sb = new StringBuilder(dims * 12);
            float[] e = r.embeddings()[i];
            for (int j = 0; j < dims; j++) {
                if (j > 0) {
                    sb.append(", ");
                }
                sb.append(e[j]);
            }
            w.write(sb.append("]}").toString());
        }
        w.write("\n]}\n");
        w.flush();
    }

    static void arrow(OutputStream out, String model, List<String> sentences, SentenceEmbedder.Result r)
            throws IOException {
        int n = sentences.size();
        int dims = r.embeddings()[0].length;
        try (BufferAllocator alloc = new RootAllocator();
             VarCharVector text = new VarCharVector(TEXT, alloc);
             IntVector tokens = new IntVector(TOKENS, alloc);
             IntVector truncated = new IntVector(TRUNCATED, alloc);
             FixedSizeListVector emb = FixedSizeListVector.empty(EMBEDDING, dims, alloc)) {
            emb.addOrGetVector(FieldType.notNullable(new ArrowType.FloatingPoint(FloatingPointPrecision.SINGLE)));
            Float4Vector values = (Float4Vector) emb.getDataVector();
            text.allocateNew(n);
            tokens.allocateNew(n);
            truncated.allocateNew(n);
            emb.allocateNew();
            values.allocateNew(n * dims);
            for (int i = 0; i < n; i++) {
                text.setSafe(i, sentences.get(i).getBytes(StandardCharsets.UTF_8));
                tokens.set(i, r.tokens()[i]);
                truncated.set(i, r.dropped()[i]);
                emb.setNotNull(i);
                for (int j = 0; j < dims; j++) {
                    values.set(i * dims + j, r.embeddings()[i][j]);
                }
            }
            values.setValueCount(n * dims);
            for (var v : List.of(text, tokens, truncated, emb)) {
                v.setValueCount(n);
            }
            var fields = List.of(text.getField(), tokens.getField(), truncated.getField(), emb.getField());
            var schema = new org.apache.arrow.vector.types.pojo.Schema(fields, java.util.Map.of("model", model));
            try (VectorSchemaRoot root = new VectorSchemaRoot(schema, List.of(text, tokens, truncated, emb), n);
                 ArrowFileWriter writer = new ArrowFileWriter(root, null, Channels.newChannel(out))) {
                writer.start();
                writer.writeBatch();
                writer.end();
            }
        }
    }

    static String quote(String s) {
        StringBuilder b = new StringBuilder(s.length() + 2).append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                default -> {
                    if (c < 0x20) {
                        b.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        return b.append('"').toString();
    }
}
