package dev.gale.core.graph;

/**
 * An argument of a launch: a tensor parameter or a scalar, bound per run, or a constant fixed when the graph is built.
 */
public sealed interface Arg permits TensorParam, IntScalar, FloatScalar, Arg.IntConst, Arg.FloatConst {

    /** The name used in error messages and reports. */
    String name();

    static Arg of(int value) {
        return new IntConst(value);
    }

    static Arg of(float value) {
        return new FloatConst(value);
    }

    record IntConst(int value) implements Arg {
        @Override
        public String name() {
            return Integer.toString(value);
        }
    }

    record FloatConst(float value) implements Arg {
        @Override
        public String name() {
            return Float.toString(value);
        }
    }
}
