package dev.gale.kernels.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The Vector API activation quantization against its scalar reference, bit for bit (codes, F32 codes and scales):
 * rounding ties on both sides of zero, negative zeros, all-zero blocks, blocks whose extreme appears with both signs,
 * padded and narrow layouts, and token counts on both sides of the parallel split.
 */
class ActivationQuantTest {
    private static final ValueLayout.OfFloat F = QuantVectors.F32;

    /** Values that stress the rounding: exact half steps of the block's scale, −0, zeros, and random ones. */
    private static MemorySegment activations(Arena arena, SplittableRandom r, int tokens, int in) {
        MemorySegment x = arena.allocate(4L * tokens * in, 64);
        for (int t = 0; t < tokens; t++) {
            for (int c = 0; c < in; c++) {
                float v = switch (r.nextInt(6)) {
                    case 0 -> (r.nextInt(33) - 16) * 0.5f; // ties at the scale 1 or 2 (extreme 8 or 16 below)
                    case 1 -> -0f;
                    case 2 -> 0f;
                    default -> (float) r.nextDouble(-6, 6);
                };
                x.set(F, 4L * ((long) t * in + c), v);
            }
            int base = t * in;
            // the extreme 8 with both signs in the first block (the reference keeps the first), a zero second block
            x.set(F, 4L * (base + 5), -8f);
            x.set(F, 4L * (base + 17), 8f);
            if (in >= 256) {
                x.asSlice(4L * (base + 128), 4L * 128).fill((byte) 0);
            }
        }
        return x;
    }

    private static void assertSameBits(ActivationQuant expected, ActivationQuant actual, int tokens, String what) {
        int in = expected.in();
        for (long i = 0; i < (long) tokens * in; i++) {
            assertEquals(expected.codes().get(ValueLayout.JAVA_BYTE, i), actual.codes().get(ValueLayout.JAVA_BYTE, i),
                    what + ": code " + i);
            assertEquals(Float.floatToRawIntBits(expected.wide().get(F, 4 * i)),
                    Float.floatToRawIntBits(actual.wide().get(F, 4 * i)), what + ": F32 code " + i);
        }
        for (long i = 0; i < (long) tokens * expected.blocks(); i++) {
            assertEquals(Float.floatToRawIntBits(expected.scales().get(F, 4 * i)),
                    Float.floatToRawIntBits(actual.scales().get(F, 4 * i)), what + ": scale " + i);
        }
    }

    @Test
    void vectorMatchesReferenceBitForBit() {
        SplittableRandom r = new SplittableRandom(11);
        try (Arena arena = Arena.ofShared()) {
            for (int tokens : new int[] {1, 3, 40}) {
                int in = 512;
                MemorySegment x = activations(arena, r, tokens, in);
                boolean[] map = {true, false, false, true};
                ActivationQuant ref = ActivationQuant.allocate(tokens, in, map, arena);
                ActivationQuant vec = ActivationQuant.allocate(tokens, in, map, arena);
                ref.quantizeReference(x, 0, tokens);
                vec.quantize(x, 0, tokens);
                assertSameBits(ref, vec, tokens, tokens + " tokens");
            }
        }
    }

    @Test
    void layoutVectorMatchesReferenceBitForBit() {
        SplittableRandom r = new SplittableRandom(12);
        try (Arena arena = Arena.ofShared()) {
            ChannelBlocks[] layouts = {ChannelBlocks.split(512, 0), ChannelBlocks.split(512, 128),
                    ChannelBlocks.split(512, 512), ChannelBlocks.split(172, 3, 32), ChannelBlocks.split(64, 0),
                    ChannelBlocks.split(300, 37), ChannelBlocks.split(260, 0, 64)};
            for (ChannelBlocks layout : layouts) {
                for (int tokens : new int[] {1, 5, 33}) {
                    MemorySegment x = activations(arena, r, tokens, layout.in());
                    ActivationQuant ref = ActivationQuant.allocate(tokens, layout.width(), layout.eightBit(), arena);
                    ActivationQuant vec = ActivationQuant.allocate(tokens, layout.width(), layout.eightBit(), arena);
                    ref.quantizeReference(x, 0, tokens, layout);
                    vec.quantize(x, 0, tokens, layout);
                    assertSameBits(ref, vec, tokens, layout + ", " + tokens + " tokens");
                }
            }
        }
    }
}
