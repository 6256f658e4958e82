package dev.gale.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;

/**
 * Files from {@code ../shared} for the CLI tests: found in a {@code shared} directory beside the project root (or an
 * ancestor of it: worktrees nest deeper) or under {@code $GALE_SHARED}. A missing file skips the test with a message,
 * or fails it under {@code GALE_REQUIRE_SHARED=1}, which CI sets. (The models module's {@code SharedFiles} also
 * checks hashes; its test classes are not visible here.)
 */
final class SharedTestFiles {
    static final String STORIES = "models/stories260K/stories260K.bin";

    private SharedTestFiles() {
    }

    static Path require(String relative) {
        String root = System.getProperty("gale.root", "");
        for (Path d = Path.of(root).toAbsolutePath(); d != null; d = d.getParent()) {
            Path p = d.resolve("shared").resolve(relative);
            if (Files.isReadable(p)) {
                return p;
            }
        }
        String env = System.getenv("GALE_SHARED");
        if (env != null && !env.isBlank() && Files.isReadable(Path.of(env, relative))) {
            return Path.of(env, relative);
        }
        String why = relative + " not provided (../shared or GALE_SHARED)";
        if ("1".equals(System.getenv("GALE_REQUIRE_SHARED"))) {
            throw new AssertionError(why + ", and GALE_REQUIRE_SHARED=1");
        }
        Assumptions.abort(why);
        return null;
    }
}
