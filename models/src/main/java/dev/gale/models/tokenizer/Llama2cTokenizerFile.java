package dev.gale.models.tokenizer;

import dev.gale.models.format.BoundedReader;
import dev.gale.models.format.MappedFile;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads llama2.c's {@code tokenizer.bin}: int32 {@code max_token_length}, then per piece float32 score, int32 length
 * and the bytes, to the end of the file. The file does not store its size (llama2.c takes it from the model), so
 * pieces are read until the end, and {@link #read(Path, int)} checks the count against the model's vocabulary.
 * llama2.c's conventions fix the special ids: 0 unknown, 1 BOS, 2 EOS; {@code <0xHH>} pieces are byte fallbacks.
 */
public final class Llama2cTokenizerFile {
    /** Ids llama2.c's {@code run.c} hard-codes. */
    public static final int UNKNOWN = 0;
    public static final int BOS = 1;
    public static final int EOS = 2;

    private Llama2cTokenizerFile() {
    }

    public static Tokenizer read(Path file) {
        return read(file, -1);
    }

    /** Reads and checks that the file holds exactly {@code vocab} pieces ({@code vocab < 0}: any number ≥ 3). */
    public static Tokenizer read(Path file, int vocab) {
        try (MappedFile f = MappedFile.open(file)) {
            BoundedReader r = f.reader(0);
            int maxLength = r.i32("max_token_length");
            if (maxLength <= 0) {
                throw r.error("max_token_length", 0, "value " + maxLength + " must be positive");
            }
            List<byte[]> pieces = new ArrayList<>();
            List<Float> scores = new ArrayList<>();
            while (r.remaining() > 0) {
                int i = pieces.size();
                long at = r.position();
                float score = r.f32("score[" + i + "]");
                if (!Float.isFinite(score)) {
                    throw r.error("score[" + i + "]", at, "score " + score + " is not finite");
                }
                long lenAt = r.position();
                int len = r.i32("length[" + i + "]");
                if (len < 0 || len > maxLength) {
                    throw r.error("length[" + i + "]", lenAt, "piece length " + len + " is outside 0.."
                            + maxLength + " (max_token_length)");
                }
                pieces.add(r.bytes("piece[" + i + "]", len));
                scores.add(score);
            }
            if (pieces.size() <= EOS || (vocab >= 0 && pieces.size() != vocab)) {
                throw r.error("pieces", r.position(), "file holds " + pieces.size() + " pieces; expected "
                        + (vocab >= 0 ? vocab : "at least " + (EOS + 1)));
            }
            float[] s = new float[scores.size()];
            TokenType[] types = new TokenType[s.length];
            for (int i = 0; i < s.length; i++) {
                s[i] = scores.get(i);
                types[i] = i == UNKNOWN ? TokenType.UNKNOWN
                        : i == BOS || i == EOS ? TokenType.CONTROL
                        : Tokenizer.byteValue(pieces.get(i)) >= 0 ? TokenType.BYTE : TokenType.NORMAL;
            }
            return new Tokenizer(pieces, s, types, BOS, EOS);
        }
    }
}
