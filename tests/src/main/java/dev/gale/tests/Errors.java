package dev.gale.tests;

/**
 * The error tally of one matrix cell (one op on one target): the largest relative error seen, and the first element
 * outside its bound. An element passes when {@code |got − want| ≤ tol · scale + Float.MIN_NORMAL}, the
 * {@code Numerics} convention (error relative to the size of the computation, with an absolute floor of the smallest
 * normal float so flushed subnormals do not count); NaN must meet NaN and infinities must match exactly.
 */
public final class Errors {
    private double maxRel;
    private long checked;
    private String firstFailure;

    /** Compares one element. {@code scale} is the size of the computation behind it, {@code tol} the relative bound. */
    public void check(String where, double got, double want, double scale, double tol) {
        checked++;
        double rel;
        boolean ok;
        if (Double.isNaN(want) || Double.isNaN(got)) {
            ok = Double.isNaN(want) && Double.isNaN(got);
            rel = ok ? 0 : Double.POSITIVE_INFINITY;
        } else if (Double.isInfinite(want) || Double.isInfinite(got)) {
            ok = want == got;
            rel = ok ? 0 : Double.POSITIVE_INFINITY;
        } else {
            double diff = Math.abs(got - want);
            rel = diff == 0 ? 0 : diff / Math.max(scale, Float.MIN_NORMAL);
            ok = diff <= tol * scale + Float.MIN_NORMAL;
        }
        maxRel = Math.max(maxRel, rel);
        if (!ok && firstFailure == null) {
            firstFailure = where + ": got " + got + ", want " + want + " (scale " + scale + ", relative error " + rel
                    + " > " + tol + ")";
        }
    }

    /**
     * A path whose contract for non-finite input is only "non-finite out" (NaN may stand for ±Inf): passes when both
     * are non-finite, and otherwise checks as {@link #check} does.
     */
    public void checkNonFinite(String where, double got, double want, double scale, double tol) {
        if (!Double.isFinite(want) && !Double.isFinite(got)) {
            checked++;
            return;
        }
        check(where, got, want, scale, tol);
    }

    /** An exact comparison (indices). */
    public void exact(String where, long got, long want) {
        checked++;
        if (got != want) {
            maxRel = Double.POSITIVE_INFINITY;
            if (firstFailure == null) {
                firstFailure = where + ": got " + got + ", want " + want;
            }
        }
    }

    /** The run itself failed (an exception). */
    public void failed(String where, Throwable t) {
        maxRel = Double.POSITIVE_INFINITY;
        if (firstFailure == null) {
            firstFailure = where + ": " + t;
        }
    }

    public double maxRelative() {
        return maxRel;
    }

    public long checked() {
        return checked;
    }

    public boolean passed() {
        return firstFailure == null && checked > 0;
    }

    /** The first failing element, or null. */
    public String firstFailure() {
        return firstFailure != null ? firstFailure : checked == 0 ? "nothing was compared" : null;
    }
}
