package dev.gale.bench.probe;

import dev.gale.bench.Roofline;
import java.util.ArrayList;
import java.util.List;

/**
 * The probes of one pass: every {@link Roofline} on one thread and on all threads of the pool.
 *
 * @param results one entry per roofline and thread count, in the order they ran
 * @param allThreads the thread count of the all-threads probes
 * @param bytesPerStream size of each probe stream
 */
public record ProbeSet(List<ProbeResult> results, int allThreads, long bytesPerStream) {
    public ProbeSet {
        results = List.copyOf(results);
    }

    /** The result for {@code roofline} on one thread ({@code singleThread}) or on all threads. */
    public ProbeResult get(Roofline roofline, boolean singleThread) {
        int want = singleThread ? 1 : allThreads;
        for (ProbeResult r : results) {
            if (r.roofline() == roofline && r.threads() == want) {
                return r;
            }
        }
        throw new IllegalArgumentException("no " + roofline + " probe on " + want + " thread(s) in this set");
    }

    /**
     * Per roofline and thread count, the better (higher) of the two passes. Both passes are best-of-N; other tenants
     * of the machine only ever lower a probe, so the higher one is the closer estimate of the ceiling.
     */
    public static ProbeSet best(ProbeSet start, ProbeSet end) {
        List<ProbeResult> out = new ArrayList<>();
        for (ProbeResult s : start.results()) {
            ProbeResult e = end.get(s.roofline(), s.threads() == 1);
            out.add(e.value() > s.value() ? e : s);
        }
        return new ProbeSet(out, start.allThreads(), start.bytesPerStream());
    }
}
