package dev.gale.kernels.gemm;

import static dev.gale.kernels.gemm.Data.OFF;

import java.lang.foreign.MemorySegment;

/** The four public entry points of each weight type, so every test runs on both. */
enum Kind {
    F32(false),
    F16(true);

    final boolean half;

    Kind(boolean half) {
        this.half = half;
    }

    void gemvReference(MemorySegment w, MemorySegment x, MemorySegment y, int out, int in) {
        if (half) {
            GemvF16.reference(w, OFF, x, OFF, y, OFF, out, in);
        } else {
            GemvF32.reference(w, OFF, x, OFF, y, OFF, out, in);
        }
    }

    void gemv(MemorySegment w, MemorySegment x, MemorySegment y, int out, int in) {
        if (half) {
            GemvF16.gemv(w, OFF, x, OFF, y, OFF, out, in);
        } else {
            GemvF32.gemv(w, OFF, x, OFF, y, OFF, out, in);
        }
    }

    void gemvRows(MemorySegment w, MemorySegment x, MemorySegment y, int out, int in, int start, int end) {
        if (half) {
            GemvF16.rows(w, OFF, x, OFF, y, OFF, out, in, start, end);
        } else {
            GemvF32.rows(w, OFF, x, OFF, y, OFF, out, in, start, end);
        }
    }

    void gemmReference(MemorySegment w, MemorySegment x, MemorySegment y, int tokens, int out, int in) {
        if (half) {
            GemmF16.reference(w, OFF, x, OFF, y, OFF, tokens, out, in);
        } else {
            GemmF32.reference(w, OFF, x, OFF, y, OFF, tokens, out, in);
        }
    }

    void gemm(MemorySegment w, MemorySegment x, MemorySegment y, int tokens, int out, int in) {
        if (half) {
            GemmF16.gemm(w, OFF, x, OFF, y, OFF, tokens, out, in);
        } else {
            GemmF32.gemm(w, OFF, x, OFF, y, OFF, tokens, out, in);
        }
    }

    void gemmOutputs(MemorySegment w, MemorySegment x, MemorySegment y, int tokens, int out, int in, int start,
            int end) {
        if (half) {
            GemmF16.outputs(w, OFF, x, OFF, y, OFF, tokens, out, in, start, end);
        } else {
            GemmF32.outputs(w, OFF, x, OFF, y, OFF, tokens, out, in, start, end);
        }
    }

    int elemBytes() {
        return half ? 2 : 4;
    }
}
