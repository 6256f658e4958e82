package dev.gale.compiler;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.gale.compiler.samples.Samples;
import dev.gale.core.kernel.KernelSource;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The emitted CUDA C of every sample compiles to PTX for sm_90 (skipped when nvcc is not on PATH). */
class NvccTest {
    @TempDir
    Path dir;

    static final Map<String, Map<String, Number>> CONSTS = Map.of(
            "groupSum", Map.of("group", 64),
            "scaledGelu", Map.of("scale", 0.75f, "perItem", 4),
            "dequantQ4", Map.of("groupSize", 32),
            "transpose", Map.of("tile", 16),
            "rmsNorm", Map.of("group", 64));

    static Path nvcc() {
        for (String p : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            Path c = Path.of(p, "nvcc");
            if (Files.isExecutable(c)) {
                return c;
            }
        }
        return null;
    }

    @Test
    void emittedCudaCompilesToPtx() throws IOException, InterruptedException {
        Path nvcc = nvcc();
        Assumptions.assumeTrue(nvcc != null, "nvcc is not on PATH");
        // One translation unit for all samples keeps this to a single nvcc run (about a second).
        StringBuilder all = new StringBuilder();
        List<String> entries = new ArrayList<>();
        for (String k : GoldenTest.KERNELS) {
            KernelSource ks = KernelSource.load(Samples.class, k);
            String src = ks.cudaSource(CONSTS.getOrDefault(k, Map.of()));
            // Each unit defines its own helpers and constants; a namespace per kernel keeps them apart.
            all.append("namespace k_").append(k).append(" {\n").append(src.replace("extern \"C\" ", ""))
                    .append("}\n");
            for (KernelSource.Param p : ks.params()) {
                if (p.kind() == KernelSource.Kind.CONST) {
                    all.append("#undef ").append(p.macro()).append('\n');
                }
            }
            entries.add(ks.entry());
        }
        Path cu = dir.resolve("all.cu");
        Files.writeString(cu, all);
        Process p = new ProcessBuilder(nvcc.toString(), "-ptx", "-arch=sm_90", "--fmad=false", cu.toString(), "-o",
                dir.resolve("all.ptx").toString()).redirectErrorStream(true).start();
        String log = new String(p.getInputStream().readAllBytes());
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly();
        }
        assertEquals(0, p.exitValue(), "nvcc failed:\n" + log + "\n--- source ---\n" + all);
        String ptx = Files.readString(dir.resolve("all.ptx"));
        for (String e : entries) {
            assertEquals(true, ptx.contains(e), "PTX lacks kernel " + e);
        }
    }
}
