package dev.gale.models.tokenizer;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;

/**
 * A SentencePiece-BPE vocabulary (llama2.c's {@code tokenizer.bin}, or GGUF's "llama" model) with llama2.c's encode
 * and decode. Pieces are raw bytes, with a space where SentencePiece writes U+2581; byte-fallback pieces are
 * {@code <0xHH>} of type {@link TokenType#BYTE}. Immutable and thread-safe.
 *
 * <p>Pieces are looked up as ISO-8859-1 strings of their raw bytes: that maps bytes to chars one to one, so
 * concatenating two keys is the key of the concatenated bytes, whatever the UTF-8 validity of either half.
 */
public final class Tokenizer {
    private final byte[][] pieces;
    private final float[] scores;
    private final TokenType[] types;
    private final int bos;
    private final int eos;
    private final Map<String, Integer> ids;
    private final int[] byteTokens = new int[256];
    private final int unknown;
    private final int space;

    /** Arguments are validated by the parsers (which name the file and field); here they are only copied. */
    public Tokenizer(List<byte[]> pieces, float[] scores, TokenType[] types, int bos, int eos) {
        int n = pieces.size();
        if (scores.length != n || types.length != n || bos < 0 || bos >= n || eos < 0 || eos >= n) {
            throw new IllegalArgumentException(n + " pieces, " + scores.length + " scores, " + types.length
                    + " types, bos " + bos + ", eos " + eos);
        }
        this.pieces = pieces.stream().map(byte[]::clone).toArray(byte[][]::new);
        this.scores = scores.clone();
        this.types = types.clone();
        this.bos = bos;
        this.eos = eos;
        this.ids = HashMap.newHashMap(n);
        java.util.Arrays.fill(byteTokens, -1);
        int unk = -1;
        for (int i = 0; i < n; i++) {
            ids.putIfAbsent(key(this.pieces[i]), i); // the first of duplicate pieces wins, as in SentencePiece
            int b = types[i] == TokenType.BYTE ? byteValue(this.pieces[i]) : -1;
            if (b >= 0 && byteTokens[b] < 0) {
                byteTokens[b] = i;
            }
            if (unk < 0 && types[i] == TokenType.UNKNOWN) {
                unk = i;
            }
        }
        this.unknown = Math.max(unk, 0);
        this.space = ids.getOrDefault(" ", -1);
    }

    public int size() {
        return pieces.length;
    }

    public int bos() {
        return bos;
    }

    public int eos() {
        return eos;
    }

    public byte[] piece(int id) {
        return pieces[id].clone();
    }

    public float score(int id) {
        return scores[id];
    }

    public TokenType type(int id) {
        return types[id];
    }

    /** The id of a piece given as text, or -1. */
    public int id(String piece) {
        return ids.getOrDefault(key(piece.getBytes(StandardCharsets.UTF_8)), -1);
    }

    /**
     * llama2.c's encode: optional BOS; a dummy-prefix space when the text is non-empty; one piece per UTF-8 code
     * point, or its bytes as byte-fallback pieces; then repeatedly merge the adjacent pair whose concatenation is a
     * piece with the highest score (leftmost on ties); optional EOS.
     */
    public int[] encode(String text, boolean addBos, boolean addEos) {
        List<Integer> tokens = new ArrayList<>();
        if (addBos) {
            tokens.add(bos);
        }
        int start = tokens.size();
        byte[] utf8 = text.getBytes(StandardCharsets.UTF_8);
        if (utf8.length > 0 && space >= 0) {
            tokens.add(space);
        }
        splitCodePoints(utf8, tokens);
        mergePairs(tokens, start);
        if (addEos) {
            tokens.add(eos);
        }
        return tokens.stream().mapToInt(Integer::intValue).toArray();
    }

    private void splitCodePoints(byte[] utf8, List<Integer> out) {
        int i = 0;
        while (i < utf8.length) {
            // A code point is a lead byte and up to three continuation bytes, as llama2.c groups them.
            int end = i + 1;
            while (end < utf8.length && end - i < 4 && (utf8[end] & 0xC0) == 0x80) {
                end++;
            }
            Integer id = ids.get(new String(utf8, i, end - i, StandardCharsets.ISO_8859_1));
            if (id != null) {
                out.add(id);
            } else {
                for (int k = i; k < end; k++) {
                    int t = byteTokens[utf8[k] & 0xFF];
                    out.add(t >= 0 ? t : unknown);
                }
            }
            i = end;
        }
    }

    /** A pair of adjacent symbols that merges into {@code merged}; stale once either side has changed. */
    private record Candidate(float score, int left, int right, int leftId, int rightId, int merged) {
    }

    /**
     * The merge loop with a priority queue instead of llama2.c's rescan: candidates order by score, then by the
     * left symbol's position, so each step takes the same pair llama2.c's scan would (the highest score, leftmost on
     * ties), in O(n log n) instead of O(n²).
     */
    private void mergePairs(List<Integer> tokens, int from) {
        int n = tokens.size() - from;
        if (n < 2) {
            return;
        }
        int[] id = new int[n];
        int[] prev = new int[n];
        int[] next = new int[n];
        for (int i = 0; i < n; i++) {
            id[i] = tokens.get(from + i);
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
        }
        PriorityQueue<Candidate> queue = new PriorityQueue<>(
                Comparator.comparingDouble((Candidate c) -> -c.score()).thenComparingInt(Candidate::left));
        for (int i = 0; i + 1 < n; i++) {
            offer(queue, id, i, i + 1);
        }
        while (!queue.isEmpty()) {
            Candidate c = queue.poll();
            if (id[c.left()] != c.leftId() || id[c.right()] != c.rightId() || next[c.left()] != c.right()) {
                continue; // one side was merged away or changed since this pair was queued
            }
            id[c.left()] = c.merged();
            id[c.right()] = -1;
            next[c.left()] = next[c.right()];
            if (next[c.left()] >= 0) {
                prev[next[c.left()]] = c.left();
                offer(queue, id, c.left(), next[c.left()]);
            }
            if (prev[c.left()] >= 0) {
                offer(queue, id, prev[c.left()], c.left());
            }
        }
        tokens.subList(from, tokens.size()).clear();
        for (int i = 0; i >= 0; i = next[i]) {
            tokens.add(id[i]);
        }
    }

    private void offer(PriorityQueue<Candidate> queue, int[] id, int left, int right) {
        Integer merged = ids.get(key(pieces[id[left]]) + key(pieces[id[right]]));
        if (merged != null) {
            queue.add(new Candidate(scores[merged], left, right, id[left], id[right], merged));
        }
    }

    /**
     * The bytes {@code token} stands for after {@code previous}: a byte piece's byte, nothing for control pieces,
     * and the piece's bytes otherwise, without the leading space right after BOS (the dummy prefix).
     */
    public byte[] pieceBytes(int previous, int token) {
        if (token < 0 || token >= pieces.length) {
            throw new IllegalArgumentException("token " + token + " is outside the vocabulary of " + pieces.length);
        }
        byte[] p = pieces[token];
        return switch (types[token]) {
            case CONTROL -> new byte[0];
            case BYTE -> new byte[] {(byte) byteValue(p)};
            default -> previous == bos && p.length > 0 && p[0] == ' ' ? java.util.Arrays.copyOfRange(p, 1, p.length) : p.clone();
        };
    }

    /** The text of a token sequence; bytes are joined before UTF-8 decoding, so characters may span tokens. */
    public String decode(int[] tokens) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int previous = -1;
        for (int t : tokens) {
            out.writeBytes(pieceBytes(previous, t));
            previous = t;
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    private static String key(byte[] piece) {
        return new String(piece, StandardCharsets.ISO_8859_1);
    }

    /** The byte of a {@code <0xHH>} piece, or -1. */
    static int byteValue(byte[] p) {
        if (p.length != 6 || p[0] != '<' || p[1] != '0' || p[2] != 'x' || p[5] != '>') {
            return -1;
        }
        int hi = Character.digit(p[3], 16);
        int lo = Character.digit(p[4], 16);
        return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
    }
}
