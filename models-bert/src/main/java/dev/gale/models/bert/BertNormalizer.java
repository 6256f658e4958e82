package dev.gale.models.bert;

import java.text.Normalizer;
import java.util.Locale;

/**
 * Hugging Face's {@code BertNormalizer}, in its order: clean the text (drop NUL, U+FFFD and control/format/private-use
 * characters; every whitespace character becomes a space), put spaces around CJK ideographs, strip
 * accents (NFD, then drop non-spacing marks), lowercase (per code point, so "İ" becomes "i̇" and a lone "Σ" is "σ"
 * as in the Rust library, never Java's context-dependent final sigma).
 */
final class BertNormalizer {
    private final boolean cleanText;
    private final boolean chineseChars;
    private final boolean stripAccents;
    private final boolean lowercase;

    BertNormalizer(boolean cleanText, boolean chineseChars, boolean stripAccents, boolean lowercase) {
        this.cleanText = cleanText;
        this.chineseChars = chineseChars;
        this.stripAccents = stripAccents;
        this.lowercase = lowercase;
    }

    String normalize(String s) {
        StringBuilder sb = new StringBuilder(s.length() + 8);
        for (int i = 0; i < s.length(); ) {
            int c = s.codePointAt(i);
            i += Character.charCount(c);
            if (cleanText) {
                if (c == 0 || c == 0xFFFD || isControl(c)) {
                    continue;
                }
                if (isWhitespace(c)) {
                    c = ' ';
                }
            }
            if (chineseChars && isCjk(c)) {
                sb.append(' ').appendCodePoint(c).append(' ');
            } else {
                sb.appendCodePoint(c);
            }
        }
        String out = sb.toString();
        if (stripAccents) {
            String nfd = Normalizer.normalize(out, Normalizer.Form.NFD);
            sb.setLength(0);
            for (int i = 0; i < nfd.length(); ) {
                int c = nfd.codePointAt(i);
                i += Character.charCount(c);
                if (Character.getType(c) != Character.NON_SPACING_MARK) {
                    sb.appendCodePoint(c);
                }
            }
            out = sb.toString();
        }
        if (lowercase) {
            sb.setLength(0);
            for (int i = 0; i < out.length(); ) {
                int c = out.codePointAt(i);
                i += Character.charCount(c);
                if (c < 0x80) {
                    sb.append((char) (c >= 'A' && c <= 'Z' ? c + 32 : c));
                } else {
                    sb.append(new String(Character.toChars(c)).toLowerCase(Locale.ROOT));
                }
            }
            out = sb.toString();
        }
        return out;
    }

    /** Rust's {@code char::is_whitespace} (the Unicode White_Space property). */
    static boolean isWhitespace(int c) {
        return switch (c) {
            case 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000 -> true;
            default -> c >= 0x2000 && c <= 0x200A;
        };
    }

    /**
     * Unicode categories Cc, Cf, Co and Cs, except tab, newline and carriage return, which count as spaces. Unassigned
     * code points (Cn) are kept, as Hugging Face's tokenizers keeps them (checked against it: they become [UNK]).
     */
    static boolean isControl(int c) {
        if (c == '\t' || c == '\n' || c == '\r') {
            return false;
        }
        int t = Character.getType(c);
        return t == Character.CONTROL || t == Character.FORMAT || t == Character.PRIVATE_USE
                || t == Character.SURROGATE;
    }

    /** The CJK Unified Ideograph blocks BERT splits one character at a time. */
    static boolean isCjk(int c) {
        return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF)
                || (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF)
                || (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
    }

    /** BERT's punctuation: ASCII punctuation (symbols such as $ + < = > ^ ` | ~ included) and Unicode P*. */
    static boolean isPunctuation(int c) {
        if (c < 0x80) {
            return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
        }
        int t = Character.getType(c);
        return t == Character.CONNECTOR_PUNCTUATION || t == Character.DASH_PUNCTUATION
                || t == Character.START_PUNCTUATION || t == Character.END_PUNCTUATION
                || t == Character.INITIAL_QUOTE_PUNCTUATION || t == Character.FINAL_QUOTE_PUNCTUATION
                || t == Character.OTHER_PUNCTUATION;
    }
}
