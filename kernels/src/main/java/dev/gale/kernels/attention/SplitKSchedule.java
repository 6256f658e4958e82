package dev.gale.kernels.attention;

/**
 * Split-K flash-decoding (papers.md §2): each tile's KV is cut into {@code numSplits} chunks of
 * {@code ⌈blocks/numSplits⌉} blocks, and the (tile, split) items are dealt to workers round-robin, i.e. run in waves
 * as a GPU runs the {@code (B·H, num_splits)} grid. {@code numSplits} comes from flash-attention's
 * {@code num_splits_heuristic}, with the worker count in place of the SM count.
 */
public final class SplitKSchedule {
    public static final String NAME = "split-k";
    /** flash-attention's {@code max_splits}. */
    public static final int MAX_SPLITS = 128;

    private SplitKSchedule() {
    }

    /**
     * flash-attention's {@code num_splits_heuristic(batch_nheads_mblocks, num_SMs, num_n_blocks, max_splits)}: no
     * split when the tiles already fill 80% of the workers; else the smallest split count whose wave efficiency
     * {@code w/⌈w⌉} ({@code w = tiles·s/workers}) is within 85% of the best, skipping counts that give the same chunk
     * length as {@code s − 1}.
     */
    public static int numSplits(int tiles, int workers, int blocks, int maxSplits) {
        if (tiles >= 0.8 * workers) {
            return 1;
        }
        int limit = Math.min(Math.min(maxSplits, workers), Math.max(1, blocks));
        double[] eff = new double[limit + 1];
        double best = 0;
        for (int s = 1; s <= limit; s++) {
            if (!eligible(s, blocks)) {
                continue;
            }
            double w = (double) tiles * s / workers;
            eff[s] = w / Math.ceil(w);
            best = Math.max(best, eff[s]);
        }
        for (int s = 1; s <= limit; s++) {
            if (eligible(s, blocks) && eff[s] >= 0.85 * best) {
                return s;
            }
        }
        return 1;
    }

    private static boolean eligible(int s, int blocks) {
        return s == 1 || ceilDiv(blocks, s) != ceilDiv(blocks, s - 1);
    }

    private static int ceilDiv(int a, int b) {
        return (a + b - 1) / b;
    }

    public static WorkList build(DecodeShape shape, int workers) {
        return build(shape, workers, numSplits(shape.nonEmptyTiles(), workers, shape.maxBlocks(), MAX_SPLITS));
    }

    /** With a given split count (every tile is cut into chunks of {@code ⌈maxBlocks/splits⌉} blocks). */
    public static WorkList build(DecodeShape shape, int workers, int splits) {
        WorkList.Builder b = WorkList.builder(NAME, workers, shape.tileLengths());
        int chunk = ceilDiv(Math.max(1, shape.maxBlocks()), Math.max(1, splits)) * shape.block();
        int next = 0;
        for (int t = 0; t < shape.tiles(); t++) {
            for (int from = 0; from < shape.length(t); from += chunk) {
                b.add(next++ % workers, t, from, Math.min(shape.length(t), from + chunk));
            }
        }
        return b.build();
    }
}
