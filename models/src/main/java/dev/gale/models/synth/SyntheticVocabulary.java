package dev.gale.models.synth;

import dev.gale.models.tokenizer.TokenType;
import dev.gale.models.tokenizer.Tokenizer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * A valid SentencePiece-BPE vocabulary of any size ≥ 259 + 95, laid out like llama2.c's: {@code <unk>}, BOS, EOS,
 * the 256 byte pieces {@code <0xHH>} (ids 3..258), the printable ASCII characters, then lowercase merges of growing
 * length, each with and without a leading space. Every merge is the concatenation of two earlier pieces, so the
 * encoder can reach it; scores fall with the id, as in SentencePiece. The strings are synthetic: only the vocabulary's
 * size and structure are real.
 */
public final class SyntheticVocabulary {
    static final int FIRST_PIECE = 259;
    public static final int MIN_SIZE = FIRST_PIECE + 95;

    private SyntheticVocabulary() {
    }

    public static Tokenizer of(int size) {
        if (size < MIN_SIZE) {
            throw new IllegalArgumentException("a synthetic vocabulary needs at least " + MIN_SIZE + " pieces, not " + size);
        }
        Set<String> pieces = new LinkedHashSet<>(List.of("<unk>", "\n<s>\n", "\n</s>\n"));
        for (int b = 0; b < 256; b++) {
            pieces.add(String.format("<0x%02X>", b));
        }
        for (char c = ' '; c <= '~'; c++) {
            pieces.add(String.valueOf(c));
        }
        List<String> previous = new ArrayList<>();
        for (char c = 'a'; c <= 'z'; c++) {
            previous.add(String.valueOf(c));
        }
        while (pieces.size() < size) {
            List<String> longer = new ArrayList<>();
            for (String p : previous) {
                for (char c = 'a'; c <= 'z' && pieces.size() < size; c++) {
                    longer.add(p + c);
                    pieces.add(" " + p); // " ab" = " a" + "b"... both exist once " a" and the letters do
                    if (pieces.size() < size) {
                        pieces.add(p + c);
                    }
                }
            }
            previous = longer;
        }
        List<byte[]> bytes = new ArrayList<>(size);
        float[] scores = new float[size];
        TokenType[] types = new TokenType[size];
        int i = 0;
        for (String p : pieces) {
            if (i == size) {
                break;
            }
            bytes.add(p.getBytes(StandardCharsets.UTF_8));
            scores[i] = i < FIRST_PIECE ? 0f : -(i - FIRST_PIECE);
            types[i] = i == 0 ? TokenType.UNKNOWN : i < 3 ? TokenType.CONTROL : i < FIRST_PIECE ? TokenType.BYTE
                    : TokenType.NORMAL;
            i++;
        }
        return new Tokenizer(bytes, scores, types, 1, 2);
    }
}
