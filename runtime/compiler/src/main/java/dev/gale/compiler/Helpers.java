package dev.gale.compiler;

/**
 * Small C functions that give Java semantics where C differs. The emitter records which ones a translation unit
 * uses; they are written, in this order, before its device functions.
 */
enum Helpers {
    // int/long arithmetic that wraps as in Java (signed overflow is undefined in C): done in unsigned.
    IADD("int j_iadd(int a, int b) { return (int)((%U)a + (%U)b); }"),
    ISUB("int j_isub(int a, int b) { return (int)((%U)a - (%U)b); }"),
    IMUL("int j_imul(int a, int b) { return (int)((%U)a * (%U)b); }"),
    INEG("int j_ineg(int a) { return (int)(0u - (%U)a); }"),
    LADD("%L j_ladd(%L a, %L b) { return (%L)((%UL)a + (%UL)b); }"),
    LSUB("%L j_lsub(%L a, %L b) { return (%L)((%UL)a - (%UL)b); }"),
    LMUL("%L j_lmul(%L a, %L b) { return (%L)((%UL)a * (%UL)b); }"),
    LNEG("%L j_lneg(%L a) { return (%L)((%UL)0 - (%UL)a); }"),
    // Division and remainder: C truncates toward zero like Java, but MIN / -1 and x / 0 are undefined. Java gives
    // MIN and 0 for MIN / -1 and MIN % -1; a device has no exceptions, so x / 0 and x % 0 give 0 (the emulator throws).
    IDIV("int j_idiv(int a, int b) { return b == 0 ? 0 : b == -1 ? (int)(0u - (%U)a) : a / b; }"),
    IREM("int j_irem(int a, int b) { return b == 0 || b == -1 ? 0 : a % b; }"),
    LDIV("%L j_ldiv(%L a, %L b) { return b == 0 ? 0 : b == -1 ? (%L)((%UL)0 - (%UL)a) : a / b; }"),
    LREM("%L j_lrem(%L a, %L b) { return b == 0 || b == -1 ? 0 : a % b; }"),
    IABS("int j_iabs(int a) { return a < 0 ? (int)(0u - (%U)a) : a; }"),
    LABS("%L j_labs(%L a) { return a < 0 ? (%L)((%UL)0 - (%UL)a) : a; }"),
    // Float to integer casts saturate and map NaN to 0 in Java; in C out-of-range conversions are undefined.
    F2I("int j_f2i(float f) { return f != f ? 0 : f >= 2147483648.0f ? 2147483647 : f <= -2147483648.0f ? (-2147483647 - 1) : (int)f; }"),
    F2L("%L j_f2l(float f) { return f != f ? 0 : f >= 9223372036854775808.0f ? 9223372036854775807%S : f <= -9223372036854775808.0f ? (-9223372036854775807%S - 1) : (%L)f; }"),
    // Math.min/max on floats: NaN if either is NaN, and -0.0 below +0.0 (C's fmin/fmax ignore NaN).
    FMIN_JAVA("float j_fmin(float a, float b) { return a != a ? a : b != b ? b : (a == 0.0f && b == 0.0f) ? (%ASINT(a) < 0 ? a : b) : (a < b ? a : b); }"),
    FMAX_JAVA("float j_fmax(float a, float b) { return a != a ? a : b != b ? b : (a == 0.0f && b == 0.0f) ? (%ASINT(a) < 0 ? b : a) : (a > b ? a : b); }"),
    // Float add on global / local memory by compare-and-swap of the bits (OpenCL 1.2 has no float atomics).
    ATOMIC_ADD_F_GLOBAL("float j_atomic_add_f_global(volatile __global float* p, float v) {\n"
            + "    volatile __global int* ip = (volatile __global int*)p;\n"
            + "    int seen;\n"
            + "    int old = *ip;\n"
            + "    do {\n"
            + "        seen = old;\n"
            + "        old = atomic_cmpxchg(ip, seen, as_int(as_float(seen) + v));\n"
            + "    } while (old != seen);\n"
            + "    return as_float(old);\n"
            + "}"),
    ATOMIC_ADD_F_LOCAL("float j_atomic_add_f_local(volatile __local float* p, float v) {\n"
            + "    volatile __local int* ip = (volatile __local int*)p;\n"
            + "    int seen;\n"
            + "    int old = *ip;\n"
            + "    do {\n"
            + "        seen = old;\n"
            + "        old = atomic_cmpxchg(ip, seen, as_int(as_float(seen) + v));\n"
            + "    } while (old != seen);\n"
            + "    return as_float(old);\n"
            + "}"),
    // CUDA stores F16 as 16-bit words; PTX converts, rounding to nearest even like Java's Float.floatToFloat16.
    H2F("float j_h2f(unsigned short h) { float f; asm(\"cvt.f32.f16 %0, %1;\" : \"=f\"(f) : \"h\"(h)); return f; }"),
    F2H("unsigned short j_f2h(float f) { unsigned short h; asm(\"cvt.rn.f16.f32 %0, %1;\" : \"=h\"(h) : \"f\"(f)); return h; }");

    private final String template;

    Helpers(String template) {
        this.template = template;
    }

    String render(Target t) {
        String s = template.replace("%UL", t.ulongType()).replace("%U", t.uintType()).replace("%L", t.longType())
                .replace("%S", t.longSuffix())
                .replace("%ASINT", t == Target.OPENCL ? "as_int" : "__float_as_int");
        return t.functionPrefix() + s;
    }
}
