package dev.gale.models;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Assumptions;

/**
 * Files from {@code ../shared} (models and text that are never committed). Located from {@code -Dgale.shared} or
 * {@code $GALE_SHARED}, else as the {@code shared} directory next to the project root (-Dgale.root, set by the parent
 * POM) or next to one of its ancestors, so git worktrees nested one level deeper find it too. Absent files skip the
 * test, unless {@code GALE_REQUIRE_SHARED=1} (CI), where they fail it; a present file with the wrong sha256 fails.
 */
public final class SharedFiles {
    public static final String STORIES_BIN = "models/stories260K/stories260K.bin";
    public static final String TOK512 = "models/stories260K/tok512.bin";
    public static final String PRIDE = "data/text/austen_pride_and_prejudice.txt";
    /** Calibration text for FMPQ, disjoint from {@link #PRIDE}. */
    public static final String EMMA = "data/text/austen_emma.txt";

    private static final Map<String, String> SHA256 = Map.of(
            STORIES_BIN, "b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696",
            TOK512, "037cb335abb25d1fa9e8ecae30ed2a3a8ace9302862ebcdc05d51a6bbb10c312",
            PRIDE, "2e44edaa4946d64ad541c68e0224f5d672f43bf3ce2a8a0b0637ad5e02fc6eb3",
            EMMA, "dd08b340a56ad4a0a00718d5682528a5a5886ae0aef91c9e0fa528074fa64b75");
    private static final Map<String, Boolean> VERIFIED = new ConcurrentHashMap<>();

    private SharedFiles() {
    }

    /** The file, verified; skips (or fails under GALE_REQUIRE_SHARED=1) when absent. */
    public static Path require(String relative) {
        Path dir = sharedDir();
        Path p = dir == null ? null : dir.resolve(relative);
        if (p == null || !Files.isReadable(p)) {
            String why = relative + " not provided (shared directory: " + dir + "; set -Dgale.shared or GALE_SHARED)";
            if ("1".equals(System.getenv("GALE_REQUIRE_SHARED"))) {
                fail(why + ", and GALE_REQUIRE_SHARED=1");
            }
            Assumptions.assumeTrue(false, why);
        }
        VERIFIED.computeIfAbsent(relative, r -> {
            assertEquals(SHA256.get(r), sha256(p), p + " is corrupt or a different file (sha256 differs)");
            return true;
        });
        return p;
    }

    static Path sharedDir() {
        String explicit = System.getProperty("gale.shared", System.getenv("GALE_SHARED"));
        if (explicit != null && !explicit.isBlank()) {
            return Path.of(explicit);
        }
        String root = System.getProperty("gale.root");
        Path start = (root != null ? Path.of(root) : Path.of("").toAbsolutePath()).toAbsolutePath().normalize();
        for (Path d = start.getParent(); d != null; d = d.getParent()) {
            if (Files.isDirectory(d.resolve("shared"))) {
                return d.resolve("shared");
            }
        }
        return null;
    }

    private static String sha256(Path p) {
        try (InputStream in = Files.newInputStream(p)) {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            byte[] buf = new byte[1 << 16];
            for (int n; (n = in.read(buf)) > 0;) {
                md.update(buf, 0, n);
            }
            return HexFormat.of().formatHex(md.digest());
        } catch (IOException | NoSuchAlgorithmException e) {
            throw new AssertionError("cannot hash " + p, e);
        }
    }
}
