package dev.gale.models.format;

import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.function.Consumer;

/**
 * A seeded mutation loop for file parsers: truncations at many offsets, bit flips, huge counts, negative lengths and
 * out-of-range offsets (as 32- and 64-bit fields), mostly within the header where the parser's decisions are. Every
 * case must end in a {@link ModelFormatException} or a valid load; any other throwable fails the test naming the
 * seed and case, so it can be replayed. The whole loop has a time limit, which catches a hang.
 */
public final class Mutations {
    private Mutations() {
    }

    /** Runs {@code cases} mutations of {@code original}, loading each from a file in {@code dir}. */
    public static int run(byte[] original, int headerBytes, long seed, int cases, Path dir, Consumer<Path> load) {
        Path file = dir.resolve("mutant.bin");
        int[] typed = {0};
        assertTimeoutPreemptively(Duration.ofSeconds(15), () -> {
            SplittableRandom random = new SplittableRandom(seed);
            int header = Math.min(headerBytes, original.length);
            for (int c = 0; c < cases; c++) {
                String what;
                byte[] m;
                if (c < Math.min(cases / 3, header)) {
                    m = Arrays.copyOf(original, c); // every truncation inside the header
                    what = "truncated to " + c;
                } else if (c < cases / 2) {
                    int len = random.nextInt(original.length);
                    m = Arrays.copyOf(original, len);
                    what = "truncated to " + len;
                } else {
                    m = original.clone();
                    what = mutate(m, random, random.nextInt(4) == 0 ? m.length : header);
                }
                write(file, m);
                try {
                    load.accept(file);
                } catch (ModelFormatException e) {
                    typed[0]++;
                } catch (Throwable t) {
                    fail("seed " + seed + " case " + c + " (" + what + "): " + t, t);
                }
            }
        });
        return typed[0];
    }

    private static String mutate(byte[] m, SplittableRandom random, int range) {
        int at = random.nextInt(Math.max(1, range - 8));
        ByteBuffer b = ByteBuffer.wrap(m).order(ByteOrder.LITTLE_ENDIAN);
        switch (random.nextInt(6)) {
            case 0 -> {
                int bit = random.nextInt(8);
                m[at] ^= (byte) (1 << bit);
                return "bit " + bit + " flipped at " + at;
            }
            case 1 -> {
                b.putLong(at, -1L >>> random.nextInt(2)); // 2^64-1 or 2^63-1: a huge u64 count or offset
                return "huge u64 at " + at;
            }
            case 2 -> {
                b.putInt(at, Integer.MAX_VALUE - random.nextInt(16));
                return "huge i32 at " + at;
            }
            case 3 -> {
                b.putInt(at, -1 - random.nextInt(1000));
                return "negative i32 at " + at;
            }
            case 4 -> {
                long v = m.length + random.nextInt(1 << 20);
                b.putLong(at - at % 4, v);
                return "out-of-range u64 " + v + " at " + (at - at % 4);
            }
            default -> {
                for (int i = 0; i < 4; i++) {
                    m[random.nextInt(m.length)] = (byte) random.nextInt(256);
                }
                return "4 random bytes";
            }
        }
    }

    private static void write(Path file, byte[] bytes) {
        try {
            Files.write(file, bytes);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
