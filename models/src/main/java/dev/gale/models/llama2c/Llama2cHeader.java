package dev.gale.models.llama2c;

import dev.gale.models.LlamaConfig;
import dev.gale.models.format.BoundedReader;
import dev.gale.models.format.MappedFile;

/**
 * The header of a llama2.c checkpoint: either the legacy one (seven int32, data from byte 28; a negative vocab size
 * means the classifier is stored separately) or version 1 (magic "ak42", int32 version 1, the same seven int32, a
 * uint8 shared-classifier flag, zero padding to 256 bytes). Every field is checked here, before any tensor offset is
 * computed from it.
 *
 * @param version    0 for the legacy layout, 1 for the "ak42" one
 * @param dataOffset where the first tensor starts
 */
public record Llama2cHeader(int version, LlamaConfig config, long dataOffset) {
    /** {@code "ak42"} read as a little-endian uint32. */
    public static final int MAGIC = 0x616b3432;
    static final long LEGACY_DATA = 28;
    static final long V1_DATA = 256;
    private static final String[] FIELDS = {"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size",
        "seq_len"};

    public static Llama2cHeader read(MappedFile file) {
        BoundedReader r = file.reader(0);
        if (file.size() >= 4 && r.i32("magic") == MAGIC) {
            int version = r.i32("version");
            if (version != 1) {
                throw r.error("version", 4, "unsupported llama2.c version " + version + " (Gale reads the legacy"
                        + " layout and version 1, fp32)");
            }
            int[] p = params(r);
            int shared = r.u8("shared_classifier");
            if (shared > 1) {
                throw r.error("shared_classifier", 36, "flag is " + shared + ", not 0 or 1");
            }
            r.require("header padding", V1_DATA - r.position());
            return new Llama2cHeader(1, config(r, 8, p, p[5], shared == 1), V1_DATA);
        }
        r = file.reader(0);
        int[] p = params(r);
        if (p[5] == Integer.MIN_VALUE) {
            throw r.error("vocab_size", 20, "vocab size " + p[5] + " has no positive counterpart");
        }
        return new Llama2cHeader(0, config(r, 0, p, Math.abs(p[5]), p[5] > 0), LEGACY_DATA);
    }

    private static int[] params(BoundedReader r) {
        int[] p = new int[FIELDS.length];
        for (int i = 0; i < p.length; i++) {
            p[i] = r.i32(FIELDS[i]);
        }
        return p;
    }

    /** {@code base}: where the seven parameters start (0 legacy, 8 in version 1), for error offsets. */
    private static LlamaConfig config(BoundedReader r, long base, int[] p, int vocab, boolean shared) {
        int[] values = {p[0], p[1], p[2], p[3], p[4], vocab, p[6]};
        for (int i = 0; i < values.length; i++) {
            if (values[i] <= 0) {
                throw r.error(FIELDS[i], base + 4L * i, "value " + p[i] + " must be positive");
            }
        }
        check(r, "n_heads", base + 12, p[0] % p[3] == 0, "dim " + p[0] + " is not a multiple of n_heads " + p[3]);
        check(r, "n_kv_heads", base + 16, p[3] % p[4] == 0,
                "n_heads " + p[3] + " is not a multiple of n_kv_heads " + p[4]);
        check(r, "n_heads", base + 12, (p[0] / p[3]) % 2 == 0, "head size " + p[0] / p[3] + " is odd");
        return new LlamaConfig(p[0], p[1], p[2], p[3], p[4], vocab, p[6], LlamaConfig.LLAMA2C_ROPE_THETA,
                LlamaConfig.LLAMA2C_NORM_EPS, shared);
    }

    private static void check(BoundedReader r, String field, long at, boolean ok, String problem) {
        if (!ok) {
            throw r.error(field, at, problem);
        }
    }
}
