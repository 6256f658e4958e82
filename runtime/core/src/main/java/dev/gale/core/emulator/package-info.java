/**
 * The JVM grid emulator: runs {@code @Kernel} methods over a {@link dev.gale.core.kernel.Grid} with device semantics
 * (virtual threads per work item, barriers per group, shared local arrays, real atomics), and reports barrier
 * divergence instead of hanging. It is the semantic reference for the translated device code.
 */
package dev.gale.core.emulator;
