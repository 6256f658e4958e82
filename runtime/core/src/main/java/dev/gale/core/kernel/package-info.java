/**
 * The kernel programming model: device kernels written once in Java, translated at build time by
 * {@code gale-compiler} into OpenCL C 1.2 and CUDA C, and run on the JVM by {@code dev.gale.core.emulator.Emulator}.
 *
 * <h2>Writing a kernel</h2>
 * <pre>{@code
 * @Kernel
 * public static void groupSum(KernelContext ctx, F32 in, F32 partial, int n, @Const int group) {
 *     float[] scratch = ctx.localFloats(group);          // work-group local memory
 *     int lid = ctx.localId(0);
 *     int gid = ctx.globalId(0);
 *     scratch[lid] = gid < n ? in.get(gid) : 0.0f;
 *     ctx.barrier();
 *     for (int stride = group / 2; stride > 0; stride >>= 1) {
 *         if (lid < stride) {
 *             scratch[lid] += scratch[lid + stride];
 *         }
 *         ctx.barrier();
 *     }
 *     if (lid == 0) {
 *         partial.set(ctx.groupId(0), scratch[0]);
 *     }
 * }
 * }</pre>
 *
 * <h2>The subset</h2>
 * <ul>
 * <li>Kernel parameters: one {@link KernelContext}; views {@link F32}, {@link F16}, {@link I8}, {@link U8},
 *     {@link I32}, {@link Q4}; {@code int}, {@code long}, {@code float} scalars; {@link Const} {@code int},
 *     {@code long}, {@code float} specialisation constants. Device functions may also take {@code boolean}s and
 *     local {@code float[]}/{@code int[]} arrays.</li>
 * <li>Locals: {@code int}, {@code long}, {@code float}, {@code boolean}; local arrays only as
 *     {@code float[] t = ctx.localFloats(SIZE)} / {@code ctx.localInts(SIZE)} at the top level of the kernel body,
 *     SIZE built from int literals, constants and {@code @Const int} parameters.</li>
 * <li>Statements: blocks, {@code if}/{@code else}, {@code for}, {@code while}, {@code do}, unlabelled {@code break}
 *     and {@code continue}, {@code return}; assignments, compound assignments and {@code ++}/{@code --} as
 *     statements only.</li>
 * <li>Expressions: arithmetic, bit, shift, comparison and logical operators; {@code ?:}; casts between int, long and
 *     float; reads of {@code static final} compile-time constants (a cast of a constant such as
 *     {@code (float) Math.PI} is folded).</li>
 * <li>Calls: {@link KernelContext} methods, view {@code get}/{@code set}, {@link KMath}, {@code Math.min/max/abs}
 *     (int, long, float) and {@code Math.fma} (float), {@code Float.floatToRawIntBits/intBitsToFloat/isNaN}, and
 *     static {@link DeviceFunction} methods declared in the kernel's top-level class (non-recursive).</li>
 * <li>Rejected with a javac error at the offending position: {@code double}, other types (byte, short, char,
 *     objects, strings, boxed values), allocation, arrays other than local arrays, fields other than constants,
 *     lambdas, method references, other calls, recursion, {@code switch}, labels, {@code try}/{@code throw},
 *     {@code synchronized}, {@code assert}, for-each, local classes.</li>
 * </ul>
 *
 * <h2>Java semantics on devices</h2>
 * The emitted C keeps Java's results: {@code int}/{@code long} {@code + - *} and negation wrap (computed in unsigned;
 * signed overflow is undefined in C); shift counts are masked ({@code & 31}, {@code & 63}) and {@code >>>} shifts
 * the unsigned value; {@code MIN / -1} is {@code MIN} and {@code MIN % -1} is 0; float-to-int/long casts saturate and
 * map NaN to 0; {@code Math.min/max} on floats propagate NaN and order -0.0 below +0.0; float {@code %} is
 * {@code fmod}. Float arithmetic is never contracted into fused multiply-adds ({@code #pragma OPENCL FP_CONTRACT OFF};
 * {@code __fadd_rn}/{@code __fmul_rn}/... in CUDA). Differences that remain: integer division or remainder by zero
 * gives 0 on devices (the emulator throws {@code ArithmeticException}); OpenCL GPUs may implement float {@code /} and
 * {@code sqrt} within 2.5-3 ulp unless built with {@code -cl-fp32-correctly-rounded-divide-sqrt} (PoCL and CUDA are
 * exact); transcendental {@link KMath} functions differ by a few ulp; {@code long}-to-{@code int} casts and {@code >>}
 * on negative values rely on two's-complement behaviour that every OpenCL and CUDA compiler provides.
 */
package dev.gale.core.kernel;
