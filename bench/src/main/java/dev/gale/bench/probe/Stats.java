package dev.gale.bench.probe;

import java.util.Arrays;

/** Order statistics of timing samples. */
public final class Stats {
    private Stats() {
    }

    /** The smallest sample; NaN for none. */
    public static double min(double[] samples) {
        double m = Double.NaN;
        for (double s : samples) {
            if (Double.isNaN(m) || s < m) {
                m = s;
            }
        }
        return m;
    }

    /** The median (mean of the middle two for an even count); NaN for none. */
    public static double median(double[] samples) {
        if (samples.length == 0) {
            return Double.NaN;
        }
        double[] s = samples.clone();
        Arrays.sort(s);
        int mid = s.length / 2;
        return s.length % 2 == 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
    }
}
