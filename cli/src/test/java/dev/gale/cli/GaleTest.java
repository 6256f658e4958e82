package dev.gale.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class GaleTest {
    private static String run(int expectedExit, String... args) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        int code = Gale.run(args, new PrintStream(bytes, true, StandardCharsets.UTF_8));
        String out = bytes.toString(StandardCharsets.UTF_8);
        assertEquals(expectedExit, code, out);
        return out;
    }

    @Test
    void devicesListsTheCpuWithItsCapabilities() {
        String out = run(0, "devices");
        assertTrue(out.startsWith("cpu "), out);
        assertTrue(out.contains("vector width") && out.contains("species") && out.contains("vector api"), out);
    }

    @Test
    void unknownCommandsPrintUsage() {
        String out = run(2, "frobnicate");
        assertTrue(out.contains("unknown command 'frobnicate'") && out.contains("devices"), out);
    }
}
