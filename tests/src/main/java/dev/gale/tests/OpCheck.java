package dev.gale.tests;

/**
 * One row of the matrix: an op, its tolerance, and a run over its cases (sizes and special values) on a target,
 * comparing every output element with the family's scalar {@code reference(...)}.
 *
 * @param name      row label
 * @param tolerance the bound, in words, for the report
 * @param body      runs every case on the target and tallies the errors
 */
public record OpCheck(String name, String tolerance, Body body) {
    /** Runs every case of an op on one target. */
    @FunctionalInterface
    public interface Body {
        void run(Target target, Errors errors) throws Exception;
    }
}
