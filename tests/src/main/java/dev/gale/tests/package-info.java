/**
 * The cross-device correctness suite: every op with a device kernel, run on every path — the family's Vector API
 * entry point, the kernel emulator, and each OpenCL device present (through {@code dev.gale.opencl.KernelLauncher}) —
 * and compared element by element with the family's scalar {@code reference(...)}.
 *
 * <p>{@link dev.gale.tests.CrossDeviceMatrix} runs the ops of {@link dev.gale.tests.Ops} and renders the matrix
 * (op × target → largest relative error, PASS/FAIL); the JUnit suite ({@code CrossDeviceSuiteTest}) and
 * {@code gale check} print the same matrix. Tolerances follow {@code dev.gale.kernels.Numerics}: errors relative to
 * the size of the computation (|x| for element-wise ops, the row sum for softmax, Σ|w·x| with
 * {@code Numerics.dotBound} for GEMV), plus an absolute floor of the smallest normal float, so a device that flushes
 * subnormals passes while any real error fails. RoPE on devices computes its angles in F32 and gets the derived
 * allowance {@code 20u·angle} on top of 1e-5. Without an OpenCL device the device columns are absent and the reason is
 * printed; {@code GALE_REQUIRE_OPENCL=1} (CI) turns that into a failure.
 */
package dev.gale.tests;
