package dev.gale.kernels.attention;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * What a decode schedule decided: for each worker (a pool thread on the CPU, a work group on a device) the token
 * ranges it folds, each into its own partial-state slot. The one-pass, split-K and LeanAttention schedules differ only
 * in the lists they build; the partial pass and the merge pass run every list the same way. That is the two-phase
 * form of stream-K (papers.md §3.4): no worker ever waits for another, so nothing can deadlock a thread pool or an
 * OpenCL device that gives no forward-progress guarantee across work groups.
 *
 * <p>Slots of one tile are contiguous and ordered by token, {@code tileSlots[t] … tileSlots[t+1]−1}, so the merge is
 * deterministic: the same list gives the same bits on every run.
 *
 * <p>The flat {@code int} arrays are what device kernels receive: {@link #segments()} is {@code [tile, from, to, slot]}
 * per segment, grouped by worker with {@link #workerStart()} delimiting each worker's segments.
 */
public final class WorkList {
    /** Ints per segment in {@link #segments()}. */
    public static final int SEG = 4;
    private final String schedule;
    private final int workers;
    private final int[] segments;
    private final int[] workerStart;
    private final int[] tileSlots;

    private WorkList(String schedule, int workers, int[] segments, int[] workerStart, int[] tileSlots) {
        this.schedule = schedule;
        this.workers = workers;
        this.segments = segments;
        this.workerStart = workerStart;
        this.tileSlots = tileSlots;
    }

    /** The schedule that built the list, for the run report. */
    public String schedule() {
        return schedule;
    }

    public int workers() {
        return workers;
    }

    public int tiles() {
        return tileSlots.length - 1;
    }

    public int slots() {
        return tileSlots[tileSlots.length - 1];
    }

    /** {@code [tile, from, to, slot]} per segment, worker by worker. Do not modify. */
    public int[] segments() {
        return segments;
    }

    /** Worker {@code w}'s segments are {@code workerStart[w] … workerStart[w+1]−1}. Do not modify. */
    public int[] workerStart() {
        return workerStart;
    }

    /** Tile {@code t}'s slots are {@code tileSlots[t] … tileSlots[t+1]−1}. Do not modify. */
    public int[] tileSlots() {
        return tileSlots;
    }

    /** Tokens worker {@code w} folds: the quantity a balanced schedule equalises. */
    public long tokens(int w) {
        long n = 0;
        for (int s = workerStart[w]; s < workerStart[w + 1]; s++) {
            n += segments[s * SEG + 2] - segments[s * SEG + 1];
        }
        return n;
    }

    public static Builder builder(String schedule, int workers, int[] tileLengths) {
        return new Builder(schedule, workers, tileLengths);
    }

    /** Collects {@code (worker, tile, from, to)} ranges in any order; {@link #build()} checks they tile exactly. */
    public static final class Builder {
        private final String schedule;
        private final int workers;
        private final int[] tileLengths;
        private final List<int[]> ranges = new ArrayList<>();

        private Builder(String schedule, int workers, int[] tileLengths) {
            if (workers < 1) {
                throw new IllegalArgumentException("work list: workers must be >= 1, got " + workers);
            }
            this.schedule = schedule;
            this.workers = workers;
            this.tileLengths = tileLengths.clone();
        }

        public Builder add(int worker, int tile, int from, int to) {
            if (worker < 0 || worker >= workers || tile < 0 || tile >= tileLengths.length || from < 0
                    || to <= from || to > tileLengths[tile]) {
                throw new IllegalArgumentException("work list: bad range worker " + worker + " tile " + tile
                        + " [" + from + ", " + to + ") of " + (tile >= 0 && tile < tileLengths.length
                        ? tileLengths[tile] : -1));
            }
            ranges.add(new int[] {worker, tile, from, to});
            return this;
        }

        /**
         * Assigns slots tile by tile in token order and checks that every tile's ranges cover it exactly once. A
         * tile of length 0 has no slots: its output is zeros.
         */
        public WorkList build() {
            int[][] byTile = ranges.toArray(new int[0][]);
            Arrays.sort(byTile, (a, b) -> a[1] != b[1] ? Integer.compare(a[1], b[1]) : Integer.compare(a[2], b[2]));
            int[] tileSlots = new int[tileLengths.length + 1];
            int next = 0;
            for (int t = 0, i = 0; t < tileLengths.length; t++) {
                tileSlots[t] = i;
                int covered = 0;
                for (; i < byTile.length && byTile[i][1] == t; i++) {
                    if (byTile[i][2] != covered) {
                        throw new IllegalStateException("work list (" + schedule + "): tile " + t + " has a "
                                + (byTile[i][2] < covered ? "overlap" : "gap") + " at token " + covered);
                    }
                    covered = byTile[i][3];
                }
                if (covered != tileLengths[t]) {
                    throw new IllegalStateException("work list (" + schedule + "): tile " + t + " covered to "
                            + covered + " of " + tileLengths[t]);
                }
                next = i;
            }
            tileSlots[tileLengths.length] = next;
            int[] workerStart = new int[workers + 1];
            for (int[] r : byTile) {
                workerStart[r[0] + 1]++;
            }
            for (int w = 0; w < workers; w++) {
                workerStart[w + 1] += workerStart[w];
            }
            int[] fill = Arrays.copyOf(workerStart, workers);
            int[] segments = new int[byTile.length * SEG];
            for (int i = 0; i < byTile.length; i++) {
                int[] r = byTile[i];
                int s = fill[r[0]]++;
                segments[s * SEG] = r[1];
                segments[s * SEG + 1] = r[2];
                segments[s * SEG + 2] = r[3];
                segments[s * SEG + 3] = i; // slot = index in tile-then-token order
            }
            return new WorkList(schedule, workers, segments, workerStart, tileSlots);
        }
    }
}
