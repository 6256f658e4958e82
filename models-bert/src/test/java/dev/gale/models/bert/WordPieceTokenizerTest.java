package dev.gale.models.bert;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The WordPiece tokenizer against the reference: Hugging Face's own tokenizers library (Rust, through DJL) reading
 * the same tokenizer.json, on sentences chosen to hit every normalisation and splitting rule.
 */
class WordPieceTokenizerTest {
    static final List<String> SENTENCES = List.of(
            "The quick brown fox jumps over the lazy dog.",
            "Hello, World!!! How's it going? (fine) [ok] {yes} <no> a+b=c ^_^ `x` |y| ~z $5 #1 @me 100%",
            "Café naïve résumé — déjà vu; Ångström, façade, jalapeño, Über, Ærøskøbing",
            "東京は日本の首都です。北京欢迎你！ 서울 한국어",
            "ΣΊΣΥΦΟΣ σοφός; Straße İstanbul ǅemal ﬁne ＦＵＬＬＷＩＤＴＨ",
            "tabs\tand\nnewlines\r\nand\u00A0nbsp\u2003em-space\u3000ideographic",
            "zero\u200Bwidth\u200Djoiner soft\u00ADhyphen bidi\u202Emark control\u0007bell",
            "emoji 😀🎉👍🏽 and math ∑∫√∞ ≤ ≥ and arrows → ⇒",
            "Привет, мир! مرحبا بالعالم שלום עולם नमस्ते दुनिया",
            "antidisestablishmentarianism supercalifragilisticexpialidocious pneumonoultramicroscopic",
            "https://example.com/path?query=1&b=2 user@example.org 3.14159 1,000,000 2024-06-01",
            "a".repeat(101) + " " + "b".repeat(100),
            "combining e\u0301 a\u0308 o\u0302 n\u0303 and precomposed é ä ô ñ",
            "«quoted» „German“ ‘single’ “double” …ellipsis… ¿question? ¡exclaim!",
            "\uFFFD replacement and unassigned",
            "x \uE000 private use",
            "y \u0378 unassigned");

    @TempDir
    static Path tmp;

    static HuggingFaceTokenizer reference() throws Exception {
        Path json = tmp.resolve("tokenizer.json");
        if (!Files.exists(json)) {
            Files.writeString(json, MiniLm.tokenizerJson());
        }
        return HuggingFaceTokenizer.builder().optTokenizerPath(json).optTruncation(false).optPadding(false)
                .optAddSpecialTokens(true).build();
    }

    @Test
    void idsMatchHuggingFaceTokenizers() throws Exception {
        WordPieceTokenizer gale = MiniLm.tokenizer();
        try (HuggingFaceTokenizer ref = reference()) {
            for (String s : SENTENCES) {
                Encoding want = ref.encode(s);
                int[] got = gale.encode(s).ids();
                long[] w = want.getIds();
                int[] wi = new int[w.length];
                for (int i = 0; i < w.length; i++) {
                    wi[i] = (int) w[i];
                }
                assertArrayEquals(wi, got, () -> "'" + s + "'\n want " + Arrays.toString(want.getTokens())
                        + "\n got  " + tokens(gale, got));
            }
        }
    }

    @Test
    void truncationAt512IsReportedAndKeepsThePrefix() throws Exception {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 600; i++) {
            sb.append("word").append(i % 7 == 0 ? ", " : " ");
        }
        String s = sb.toString();
        WordPieceTokenizer.Encoding e = MiniLm.tokenizer().encode(s);
        assertEquals(512, e.ids().length);
        assertTrue(e.truncated());
        try (HuggingFaceTokenizer ref = reference()) {
            long[] full = ref.encode(s).getIds();
            assertEquals(full.length - 512, e.droppedTokens());
            for (int i = 0; i < 511; i++) {
                assertEquals(full[i], e.ids()[i], "token " + i);
            }
        }
        assertEquals(102, e.ids()[511]);
        WordPieceTokenizer.Batch b = MiniLm.tokenizer().encodeBatch(List.of("short", s));
        assertTrue(b.anyTruncated());
        assertEquals(0, b.dropped()[0]);
        assertFalse(MiniLm.tokenizer().encode("short").truncated());
    }

    @Test
    void batchesPadToTheLongestWithAMask() {
        WordPieceTokenizer.Batch b = MiniLm.tokenizer().encodeBatch(List.of("a b c d e", "hi", "one two"));
        assertEquals(7, b.seq());
        assertArrayEquals(new int[] {7, 3, 4}, b.lengths());
        for (int r = 0; r < 3; r++) {
            for (int t = 0; t < b.seq(); t++) {
                boolean real = t < b.lengths()[r];
                assertEquals(real ? 1 : 0, b.mask()[r * b.seq() + t]);
                if (!real) {
                    assertEquals(0, b.ids()[r * b.seq() + t], "[PAD]");
                }
            }
            assertEquals(101, b.ids()[r * b.seq()]);
            assertEquals(102, b.ids()[r * b.seq() + b.lengths()[r] - 1]);
        }
    }

    /** Round trip: every word of plain lowercase text comes back from its pieces with the ## prefixes removed. */
    @Test
    void piecesReassembleTheNormalisedWords() {
        WordPieceTokenizer t = MiniLm.tokenizer();
        String s = "Tokenizers split unbelievably long words like internationalization into pieces!";
        int[] ids = t.encode(s).ids();
        StringBuilder sb = new StringBuilder();
        for (int i = 1; i < ids.length - 1; i++) {
            String p = t.token(ids[i]);
            assertFalse(p.equals("[UNK]"));
            sb.append(p.startsWith("##") ? p.substring(2) : " " + p);
        }
        assertEquals(String.join(" ", WordPieceTokenizer.words(s.toLowerCase())), sb.toString().trim());
    }

    @Test
    void badInputGetsAClearMessage() {
        WordPieceTokenizer t = MiniLm.tokenizer();
        assertTrue(assertThrows(InvalidTextException.class, () -> t.encode("")).getMessage().contains("empty"));
        assertTrue(assertThrows(InvalidTextException.class, () -> t.encode(" \t\n\u0007 ")).getMessage()
                .contains("after normalisation"));
        assertTrue(assertThrows(InvalidTextException.class, () -> t.encodeBatch(List.of())).getMessage()
                .contains("no sentences"));
        assertTrue(assertThrows(InvalidTextException.class, () -> t.encodeBatch(List.of("ok", " "))).getMessage()
                .startsWith("sentence 1"));
        byte[] bad = "ok \u00e9".getBytes(StandardCharsets.UTF_8);
        byte[] truncated = Arrays.copyOf(bad, bad.length - 1);
        String msg = assertThrows(InvalidTextException.class, () -> t.encode(truncated)).getMessage();
        assertTrue(msg.contains("not valid UTF-8"), msg);
        byte[] lone = {'a', (byte) 0xFF, 'b'};
        msg = assertThrows(InvalidTextException.class, () -> t.encode(lone)).getMessage();
        assertTrue(msg.contains("0xff at byte offset 1"), msg);
        assertArrayEquals(t.encode("ok é").ids(), t.encode(bad).ids());
    }

    @Test
    void corruptTokenizerJsonIsATypedError() {
        assertThrows(TokenizerFormatException.class, () -> WordPieceTokenizer.fromJson("{", "t", 512));
        assertThrows(TokenizerFormatException.class, () -> WordPieceTokenizer.fromJson("[]", "t", 512));
        assertThrows(TokenizerFormatException.class,
                () -> WordPieceTokenizer.fromJson("{\"model\":{\"type\":\"BPE\"}}", "t", 512));
        assertThrows(TokenizerFormatException.class, () -> WordPieceTokenizer.fromJson("[".repeat(100_000), "t", 512));
        String small = "{\"normalizer\":{\"type\":\"BertNormalizer\",\"lowercase\":true},\"model\":{\"type\":"
                + "\"WordPiece\",\"unk_token\":\"[UNK]\",\"vocab\":{\"[PAD]\":0,\"[UNK]\":1,\"[CLS]\":2,\"[SEP]\":3,"
                + "\"a\":4,\"##b\":5,\"\\u00e9t\\u00e9\":6}}}";
        WordPieceTokenizer ok = WordPieceTokenizer.fromJson(small, "t", 512);
        assertArrayEquals(new int[] {2, 4, 5, 1, 3}, ok.encode("ab ac").ids());
        // Seeded mutations: a typed error or a tokenizer, nothing else.
        Random r = new Random(7);
        int parsed = 0;
        for (int i = 0; i < 3000; i++) {
            char[] c = small.toCharArray();
            int edits = 1 + r.nextInt(3);
            for (int e = 0; e < edits; e++) {
                c[r.nextInt(c.length)] = "{}[]\":,0123456789tfnu\\ aé".charAt(r.nextInt(25));
            }
            String m = r.nextInt(4) == 0 ? new String(c, 0, r.nextInt(c.length)) : new String(c);
            try {
                WordPieceTokenizer.fromJson(m, "fuzz", 512);
                parsed++;
            } catch (TokenizerFormatException expected) {
                // typed
            }
        }
        assertTrue(parsed < 3000);
    }

    private static String tokens(WordPieceTokenizer t, int[] ids) {
        List<String> out = new ArrayList<>();
        for (int id : ids) {
            out.add(t.token(id));
        }
        return out.toString();
    }
}
