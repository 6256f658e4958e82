package dev.gale.compiler;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * The OpenCL C, CUDA C and descriptors emitted for the sample kernels (by the processor during test compilation)
 * must equal the reviewed files in {@code src/test/resources/golden}. {@code -Dgale.golden.update=true} rewrites
 * them instead; review the diff before committing.
 */
class GoldenTest {
    static final List<String> KERNELS = List.of("vadd", "groupSum", "scaledGelu", "histogram", "semantics",
            "dequantQ4", "transpose", "controlFlow", "rmsNorm");
    private static final Path GOLDEN = Path.of("src/test/resources/golden");

    @TestFactory
    Stream<DynamicTest> emittedCodeMatchesTheGoldens() {
        boolean update = Boolean.getBoolean("gale.golden.update");
        List<DynamicTest> tests = new ArrayList<>();
        for (String k : KERNELS) {
            for (String ext : List.of("cl", "cu", "properties")) {
                tests.add(DynamicTest.dynamicTest(k + "." + ext, () -> check(k, ext, update)));
            }
        }
        return tests.stream();
    }

    private static void check(String kernel, String ext, boolean update) throws IOException {
        String resource = "META-INF/gale/kernels/dev.gale.compiler.samples.Samples." + kernel + "." + ext;
        String actual;
        try (InputStream in = GoldenTest.class.getClassLoader().getResourceAsStream(resource)) {
            assertNotNull(in, "the processor did not emit " + resource);
            actual = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        Path golden = GOLDEN.resolve("Samples." + kernel + "." + ext);
        if (update) {
            Files.createDirectories(GOLDEN);
            Files.writeString(golden, actual);
            return;
        }
        if (!Files.exists(golden)) {
            fail("no golden file " + golden.toAbsolutePath() + "; run with -Dgale.golden.update=true and review it");
        }
        String expected = Files.readString(golden);
        if (!expected.equals(actual)) {
            fail("emitted " + resource + " differs from " + golden + " (- golden, + emitted):\n"
                    + diff(expected, actual) + "\nIf the change is intended, rerun with -Dgale.golden.update=true "
                    + "and review the golden diff.");
        }
    }

    /** A line diff (longest common subsequence), enough to read a codegen change. */
    static String diff(String a, String b) {
        String[] x = a.split("\n", -1);
        String[] y = b.split("\n", -1);
        int[][] lcs = new int[x.length + 1][y.length + 1];
        for (int i = x.length - 1; i >= 0; i--) {
            for (int j = y.length - 1; j >= 0; j--) {
                lcs[i][j] = x[i].equals(y[j]) ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
            }
        }
        StringBuilder sb = new StringBuilder();
        int i = 0;
        int j = 0;
        while (i < x.length || j < y.length) {
            if (i < x.length && j < y.length && x[i].equals(y[j])) {
                i++;
                j++;
            } else if (j < y.length && (i == x.length || lcs[i][j + 1] >= lcs[i + 1][j])) {
                sb.append(String.format("+%4d | %s%n", j + 1, y[j++]));
            } else {
                sb.append(String.format("-%4d | %s%n", i + 1, x[i++]));
            }
        }
        return sb.toString();
    }
}
