package dev.gale.models.synth;

import dev.gale.core.GaleException;
import dev.gale.models.LlamaConfig;
import dev.gale.models.TensorNames;
import dev.gale.models.WeightConversion;
import dev.gale.models.WeightType;
import dev.gale.models.gguf.GgufVocabulary;
import dev.gale.models.gguf.GgufWriter;
import dev.gale.models.gguf.LlamaGguf;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.LongStream;

/**
 * GGUF files with random weights in a real architecture's shape, for benchmarks (models-and-data.md §4.2): matrices
 * Gaussian with σ = 0.02, norms 1.0, deterministic for a seed, and a synthetic vocabulary of the real size. Rows are
 * generated and quantized straight into the mapped output, in parallel chunks with their own seeds, so the result
 * does not depend on the thread count. Random weights say nothing about accuracy.
 */
public final class SyntheticLlama {
    /** Architectures with their published shapes. Llama 3.2's RoPE frequency scaling is not written (yet). */
    public enum Arch {
        LLAMA_3_2_1B("llama-3.2-1b", new LlamaConfig(2048, 8192, 16, 32, 8, 128256, 131072, 500000f, 1e-5f, true)),
        LLAMA_3_8B("llama-3-8b", new LlamaConfig(4096, 14336, 32, 32, 8, 128256, 8192, 500000f, 1e-5f, false));

        private final String id;
        private final LlamaConfig config;

        Arch(String id, LlamaConfig config) {
            this.id = id;
            this.config = config;
        }

        public String id() {
            return id;
        }

        public LlamaConfig config() {
            return config;
        }

        public static Arch of(String id) {
            for (Arch a : values()) {
                if (a.id.equals(id)) {
                    return a;
                }
            }
            return null;
        }
    }

    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final int ROWS_PER_CHUNK = 64;

    private SyntheticLlama() {
    }

    private record Spec(String name, long[] shape) {
    }

    /** {@code arch} with {@code layers} blocks (all of them when {@code layers <= 0}). */
    public static LlamaConfig config(Arch arch, int layers) {
        LlamaConfig c = arch.config();
        return layers <= 0 ? c : new LlamaConfig(c.dim(), c.hiddenDim(), layers, c.heads(), c.kvHeads(), c.vocab(),
                c.seqLen(), c.ropeTheta(), c.normEps(), c.sharedClassifier());
    }

    /** Bytes the tensors of {@code c} take as {@code type} (norms F32). */
    public static long weightBytes(LlamaConfig c, WeightType type) {
        return specs(c).stream().mapToLong(s -> typeOf(s, type).byteSize(s.shape()[0] * (s.shape().length > 1 ? s.shape()[1] : 1))).sum();
    }

    public static LlamaGguf.WriteReport write(LlamaConfig c, WeightType type, Path out, long seed) {
        long need = weightBytes(c, type) + (64L << 20);
        try {
            Path dir = out.toAbsolutePath().getParent();
            long free = Files.getFileStore(dir).getUsableSpace();
            if (free < need) {
                throw new GaleException("not enough disk for " + out + ": needs about " + need + " bytes, " + free
                        + " free in " + dir);
            }
        } catch (IOException e) {
            throw new GaleException("cannot check free space for " + out + ": " + e.getMessage(), e);
        }
        GgufWriter w = new GgufWriter();
        LlamaGguf.putConfig(w, c, type);
        GgufVocabulary.write(SyntheticVocabulary.of(c.vocab()), w);
        List<String> keptF32 = new ArrayList<>();
        List<Spec> specs = specs(c);
        for (int i = 0; i < specs.size(); i++) {
            Spec s = specs.get(i);
            WeightType t = typeOf(s, type);
            if (s.shape().length > 1 && t != type) {
                keptF32.add(s.name());
            }
            long tensorSeed = seed * 1_000_003L + i;
            w.tensor(s.name(), t, s.shape(), dst -> fill(s, t, dst, tensorSeed));
        }
        w.write(out);
        return new LlamaGguf.WriteReport(out, type, List.copyOf(keptF32));
    }

    private static WeightType typeOf(Spec s, WeightType type) {
        long row = s.shape()[s.shape().length - 1];
        return s.shape().length == 1 || row % type.blockSize() != 0 ? WeightType.F32 : type;
    }

    private static List<Spec> specs(LlamaConfig c) {
        long d = c.dim();
        long kv = c.kvDim();
        long h = c.hiddenDim();
        List<Spec> s = new ArrayList<>();
        s.add(new Spec(TensorNames.TOKEN_EMBEDDING, new long[] {c.vocab(), d}));
        for (int l = 0; l < c.layers(); l++) {
            s.add(new Spec(TensorNames.layer(l, "attn_norm"), new long[] {d}));
            s.add(new Spec(TensorNames.layer(l, "attn_q"), new long[] {d, d}));
            s.add(new Spec(TensorNames.layer(l, "attn_k"), new long[] {kv, d}));
            s.add(new Spec(TensorNames.layer(l, "attn_v"), new long[] {kv, d}));
            s.add(new Spec(TensorNames.layer(l, "attn_output"), new long[] {d, d}));
            s.add(new Spec(TensorNames.layer(l, "ffn_norm"), new long[] {d}));
            s.add(new Spec(TensorNames.layer(l, "ffn_gate"), new long[] {h, d}));
            s.add(new Spec(TensorNames.layer(l, "ffn_down"), new long[] {d, h}));
            s.add(new Spec(TensorNames.layer(l, "ffn_up"), new long[] {h, d}));
        }
        s.add(new Spec(TensorNames.FINAL_NORM, new long[] {d}));
        if (!c.sharedClassifier()) {
            s.add(new Spec(TensorNames.CLASSIFIER, new long[] {c.vocab(), d}));
        }
        return s;
    }

    private static void fill(Spec s, WeightType type, MemorySegment dst, long seed) {
        if (s.shape().length == 1) {
            for (long i = 0; i < s.shape()[0]; i++) {
                dst.setAtIndex(F32, i, 1f);
            }
            return;
        }
        long rows = s.shape()[0];
        int n = Math.toIntExact(s.shape()[1]);
        long rowBytes = type.byteSize(n);
        long chunks = (rows + ROWS_PER_CHUNK - 1) / ROWS_PER_CHUNK;
        LongStream.range(0, chunks).parallel().forEach(chunk -> {
            SplittableRandom random = new SplittableRandom(seed * 31 + chunk);
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment row = arena.allocate(4L * n, 64);
                for (long r = chunk * ROWS_PER_CHUNK; r < Math.min(rows, (chunk + 1) * ROWS_PER_CHUNK); r++) {
                    for (int j = 0; j < n; j++) {
                        row.setAtIndex(F32, j, (float) (0.02 * random.nextGaussian()));
                    }
                    WeightConversion.encodeRow(row, type, dst, r * rowBytes, n);
                }
            }
        });
    }
}
