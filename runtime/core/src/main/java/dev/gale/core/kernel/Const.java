package dev.gale.core.kernel;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * A kernel parameter ({@code int}, {@code long} or {@code float}) that is baked into the device code as a
 * specialisation constant instead of being passed at launch: head dimension, group size, tile sizes. The emitted
 * source refers to it as the macro {@code GALE_CONST_<name>}; {@link KernelSource#specialise} defines it, so every
 * value gives its own program variant (cached by source text). A {@code @Const} parameter may size local arrays.
 */
@Documented
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.PARAMETER)
public @interface Const {
}
