package dev.gale.core.kernel;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Marks a {@code public static void} method as a device kernel written in Gale's SIMT subset of Java. The
 * {@code gale-compiler} annotation processor checks the subset and emits OpenCL C 1.2 and CUDA C for it (see
 * {@link KernelSource}); the {@code dev.gale.core.emulator.Emulator} runs the same method on the JVM as the semantic
 * reference.
 *
 * <p>Parameters: at most one {@link KernelContext}; buffer views ({@link F32}, {@link F16}, {@link I8}, {@link U8},
 * {@link I32}, {@link Q4}); {@code int}, {@code long} and {@code float} scalars; and {@link Const} specialisation
 * constants of those types.
 */
@Documented
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.METHOD)
public @interface Kernel {
}
