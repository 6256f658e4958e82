package dev.gale.models.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gale.models.SharedFiles;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

class TokenizerTest {
    static Tokenizer tok512() {
        return Llama2cTokenizerFile.read(SharedFiles.require(SharedFiles.TOK512), 512);
    }

    @Test
    void tok512HasLlama2csSpecialAndByteIds() {
        Tokenizer t = tok512();
        assertEquals(512, t.size());
        assertEquals(1, t.bos());
        assertEquals(2, t.eos());
        assertEquals("\n<s>\n", new String(t.piece(1), StandardCharsets.UTF_8));
        for (int b = 0; b < 256; b++) {
            assertEquals(TokenType.BYTE, t.type(b + 3));
            assertEquals(String.format("<0x%02X>", b), new String(t.piece(b + 3), StandardCharsets.UTF_8));
        }
        assertEquals(TokenType.NORMAL, t.type(259));
        assertEquals(-(300 - 259), t.score(300), 0f);
    }

    @Test
    void encodesKnownSequences() {
        Tokenizer t = tok512();
        assertArrayEquals(new int[] {1}, t.encode("", true, false));
        assertArrayEquals(new int[] {1, 2}, t.encode("", true, true));
        int[] once = t.encode("Once upon a time", true, false);
        // Pinned after checking each piece by hand: BOS, then " Once upon a time" in merged pieces.
        assertEquals("[\n<s>\n| Once| upon| a| time]", pieces(t, once));
        assertEquals("[ |é]", pieces(t, t.encode("é", false, false)));
        // 日 (E6 97 A5) is not a piece: three byte-fallback tokens, id = byte + 3.
        assertEquals(-1, t.id("日"));
        assertArrayEquals(new int[] {t.id(" "), 0xE6 + 3, 0x97 + 3, 0xA5 + 3}, t.encode("日", false, false));
        assertEquals("日", t.decode(new int[] {1, 0xE6 + 3, 0x97 + 3, 0xA5 + 3}));
    }

    @Test
    void roundTripsRealText() throws IOException {
        Tokenizer t = tok512();
        List<String> paragraphs = Arrays.stream(Files.readString(SharedFiles.require(SharedFiles.PRIDE))
                .split("\n\n")).map(p -> p.replace('\n', ' ').strip()).filter(p -> !p.isEmpty()).limit(400).toList();
        long tokens = 0;
        long chars = 0;
        for (String p : paragraphs) {
            int[] ids = t.encode(p, true, false);
            assertEquals(p, t.decode(ids), "round trip");
            if (tokens < 3_000) {
                assertArrayEquals(llama2cEncode(t, p), ids, p);
            }
            tokens += ids.length;
            chars += p.length();
        }
        assertTrue(tokens < chars, "merges happen: " + tokens + " tokens for " + chars + " chars");
        String unicode = "naïve café — “quoted” 日本 🙂";
        assertEquals(unicode, t.decode(t.encode(unicode, true, true)));
    }

    /** llama2.c's quadratic merge loop, written independently, as the reference for the tokenizer's queue. */
    static int[] llama2cEncode(Tokenizer t, String text) {
        List<String> syms = new java.util.ArrayList<>();
        syms.add(" ");
        text.codePoints().forEach(cp -> {
            String c = Character.toString(cp);
            if (t.id(c) >= 0) {
                syms.add(c);
            } else {
                for (byte b : c.getBytes(StandardCharsets.UTF_8)) {
                    syms.add(String.format("<0x%02X>", b & 0xFF));
                }
            }
        });
        while (true) {
            int bestAt = -1;
            float best = 0;
            for (int i = 0; i + 1 < syms.size(); i++) {
                int id = t.id(syms.get(i) + syms.get(i + 1));
                if (id >= 0 && (bestAt < 0 || t.score(id) > best)) {
                    best = t.score(id);
                    bestAt = i;
                }
            }
            if (bestAt < 0) {
                break;
            }
            syms.set(bestAt, syms.get(bestAt) + syms.remove(bestAt + 1));
        }
        return java.util.stream.IntStream.concat(java.util.stream.IntStream.of(1),
                syms.stream().mapToInt(t::id)).toArray();
    }

    static String pieces(Tokenizer t, int[] ids) {
        return Arrays.stream(ids).mapToObj(i -> new String(t.piece(i), StandardCharsets.UTF_8))
                .collect(Collectors.joining("|", "[", "]"));
    }
}
