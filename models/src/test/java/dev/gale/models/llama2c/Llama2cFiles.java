package dev.gale.models.llama2c;

import dev.gale.models.LlamaConfig;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Writes small llama2.c checkpoints for tests, independently of the loader: each tensor's values depend on its name. */
public final class Llama2cFiles {
    private Llama2cFiles() {
    }

    /** Deterministic values of layer {@code layer} of group {@code name}. */
    public static float[] values(String name, int layer, int count, int seed) {
        float[] v = new float[count];
        for (int i = 0; i < count; i++) {
            v[i] = ((name.hashCode() * 31 + layer * 7919 + i * 13 + seed) % 1000) / 1000f;
        }
        return v;
    }

    public static Path write(Path file, LlamaConfig c, int version, int seed) {
        int dim = c.dim(), hid = c.hiddenDim(), kv = c.kvDim(), v = c.vocab(), n = c.layers();
        List<Object[]> groups = new ArrayList<>();
        if (version == 0) {
            add(groups, "tok_embeddings", 1, v * dim);
            add(groups, "rms_att", n, dim);
            add(groups, "wq", n, dim * dim);
            add(groups, "wk", n, kv * dim);
            add(groups, "wv", n, kv * dim);
            add(groups, "wo", n, dim * dim);
            add(groups, "rms_ffn", n, dim);
            add(groups, "w1", n, hid * dim);
            add(groups, "w2", n, dim * hid);
            add(groups, "w3", n, hid * dim);
            add(groups, "rms_final", 1, dim);
            add(groups, "freq", 2, c.seqLen() * c.headDim() / 2);
        } else {
            add(groups, "rms_att", n, dim);
            add(groups, "rms_ffn", n, dim);
            add(groups, "rms_final", 1, dim);
            add(groups, "tok_embeddings", 1, v * dim);
            add(groups, "wq", n, dim * dim);
            add(groups, "wk", n, kv * dim);
            add(groups, "wv", n, kv * dim);
            add(groups, "wo", n, dim * dim);
            add(groups, "w1", n, hid * dim);
            add(groups, "w2", n, dim * hid);
            add(groups, "w3", n, hid * dim);
        }
        if (!c.sharedClassifier()) {
            add(groups, "wcls", 1, v * dim);
        }
        int floats = groups.stream().mapToInt(g -> (int) g[1] * (int) g[2]).sum();
        int header = version == 0 ? 28 : 256;
        ByteBuffer b = ByteBuffer.allocate(header + 4 * floats).order(ByteOrder.LITTLE_ENDIAN);
        if (version == 1) {
            b.putInt(Llama2cHeader.MAGIC).putInt(1);
        }
        b.putInt(dim).putInt(hid).putInt(n).putInt(c.heads()).putInt(c.kvHeads())
                .putInt(version == 0 && !c.sharedClassifier() ? -v : v).putInt(c.seqLen());
        if (version == 1) {
            b.put((byte) (c.sharedClassifier() ? 1 : 0));
        }
        b.position(header);
        for (Object[] g : groups) {
            for (int l = 0; l < (int) g[1]; l++) {
                for (float x : values((String) g[0], l, (int) g[2], seed)) {
                    b.putFloat(x);
                }
            }
        }
        try {
            return Files.write(file, b.array());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void add(List<Object[]> groups, String name, int count, int elements) {
        groups.add(new Object[] {name, count, elements});
    }
}
