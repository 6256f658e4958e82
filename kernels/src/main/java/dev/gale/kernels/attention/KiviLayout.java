package dev.gale.kernels.attention;

/**
 * KIVI's quantization geometry (papers.md §5): {@code bits}-bit codes, groups of {@code group} elements ({@code G}),
 * and a full-precision residual window of {@code residual} tokens ({@code R}, a multiple of {@code G}, so a full
 * key window quantizes into whole token groups).
 *
 * <p>Codes are packed little-endian into 32-bit words, element {@code j} of a word at bits {@code [B·j, B·j + B)}, as
 * in KIVI's {@code new_pack.py}; {@code G·B} must be a multiple of 32 so every group starts on a word.
 */
public record KiviLayout(int bits, int group, int residual) {
    public KiviLayout {
        check(bits, group, residual, group);
    }

    static void check(int bits, int G, int R, int d) {
        if (bits != 2 && bits != 4 && bits != 8) {
            throw new IllegalArgumentException("kivi: bits must be 2, 4 or 8, got " + bits);
        }
        if (G < 1 || G * bits % 32 != 0) {
            throw new IllegalArgumentException("kivi: group " + G + " x " + bits + " bits must fill whole words");
        }
        if (R < G || R % G != 0) {
            throw new IllegalArgumentException("kivi: residual " + R + " must be a positive multiple of group " + G);
        }
        if (d % G != 0) {
            throw new IllegalArgumentException("kivi: head dim " + d + " must be a multiple of group " + G
                    + " (values are grouped over channels)");
        }
    }

    public static KiviLayout of(KvPrecision p, int group, int residual) {
        if (!p.quantized()) {
            throw new IllegalArgumentException("kivi: " + p + " is not a quantized precision");
        }
        return new KiviLayout(p.bits(), group, residual);
    }

    public KvPrecision precision() {
        return bits == 8 ? KvPrecision.INT8 : bits == 4 ? KvPrecision.INT4 : KvPrecision.INT2;
    }

    /** Largest code, {@code 2^B − 1}. */
    public int levels() {
        return (1 << bits) - 1;
    }

    /** Codes per 32-bit word. */
    public int perWord() {
        return 32 / bits;
    }

    /** Bytes of one group's codes. */
    public int groupBytes() {
        return group * bits / 8;
    }

    /** Bytes of one token's value codes (all {@code d} channels). */
    public int valueBytes(int d) {
        return d * bits / 8;
    }

    /** Tokens of a sequence of {@code length} whose keys are quantized: whole residual windows. */
    public int quantizedKeys(int length) {
        return length - length % residual;
    }

    /** Tokens of a sequence of {@code length} whose values are quantized: all but the last {@code R}. */
    public int quantizedValues(int length) {
        return Math.max(0, length - residual);
    }
}
