package dev.gale.models.bert;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * The run-time path of {@link MiniLmFiles}: the jars in the local Maven repository, which the test build has just
 * resolved, hold the same files as the class path.
 */
class MiniLmFilesTest {
    @Test
    void theLocalRepositoryJarHoldsWhatTheClassPathHolds() {
        assertTrue(MiniLmFiles.jar(MiniLmFiles.Variant.INT8).isPresent(),
                "the int8 jar is not in the local repository");
        String name = "all-minilm-l6-v2-q-tokenizer.json";
        assertArrayEquals(MiniLm.resource("/" + name), MiniLmFiles.readFromJar(MiniLmFiles.Variant.INT8, name));
    }

    @Test
    void aMissingEntryIsATypedErrorNamingIt() {
        var e = assertThrows(ModelFilesMissingException.class,
                () -> MiniLmFiles.readFromJar(MiniLmFiles.Variant.INT8, "nope.onnx"));
        assertTrue(e.getMessage().contains("has no entry nope.onnx"), e.getMessage());
    }

    @Test
    void tokenizerLimitsAreChecked() {
        assertThrows(IllegalArgumentException.class, () -> MiniLmFiles.tokenizer(513));
        assertTrue(MiniLmFiles.tokenizer(16).maxTokens() == 16);
    }
}
