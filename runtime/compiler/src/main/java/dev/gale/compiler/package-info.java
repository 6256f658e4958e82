/**
 * Gale's kernel compiler: the {@link dev.gale.compiler.KernelProcessor} annotation processor. Put {@code gale-compiler}
 * on javac's processor path with {@code -proc:full} (JDK 23+ runs no processors by default). The subset and the
 * Java-semantics rules are described in {@code dev.gale.core.kernel}; the resources it writes in
 * {@code dev.gale.core.kernel.KernelSource}.
 */
package dev.gale.compiler;
