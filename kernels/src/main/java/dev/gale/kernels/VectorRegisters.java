package dev.gale.kernels;

import jdk.incubator.vector.FloatVector;

/**
 * How large a register tile the vector kernels may hold. Their register blocks are written out by hand (an array of
 * vectors would be boxed), once with twice the accumulators where the register file allows it: on x86, AVX-512
 * doubles the vector registers from 16 to 32, and a tile sized for 32 spills on AVX2 (measured about half the speed
 * in the GEMM, 1.0–1.2× slower in decode attention's P·V). One rule for every kernel that chooses, so a JVM picks the
 * same shape everywhere ({@code -XX:UseAVX=2} runs the narrow tiles).
 */
public final class VectorRegisters {
    /** Whether the preferred vectors are 512 bits wide, and so (on x86) 32 of them fit in the register file. */
    public static final boolean WIDE = FloatVector.SPECIES_PREFERRED.vectorBitSize() >= 512;

    private VectorRegisters() {
    }
}
