package dev.gale.kernels.attention;

/**
 * LeanAttention's stream-K decomposition (papers.md §3.1, ORT {@code get_num_splits_and_buffer_sizes}): every KV
 * block of every tile lies on one flat axis {@code (seq, kvHead, block)}, and worker {@code c} takes one contiguous
 * range of it, the first {@code highLoad} workers {@code ⌈T/G⌉} blocks and the others one fewer, so loads differ by at
 * most one block whatever the batch, head count or context length. A range may cross tile boundaries; each piece of
 * it inside one tile is one segment with its own partial-state slot, merged by the two-phase merge pass.
 */
public final class LeanSchedule {
    public static final String NAME = "lean";

    private LeanSchedule() {
    }

    /**
     * {@code workers} ranges over the flattened axis (fewer workers than blocks would leave some idle, so the list
     * has {@code min(workers, T)} non-empty workers, never fewer than one).
     */
    public static WorkList build(DecodeShape shape, int workers) {
        WorkList.Builder b = WorkList.builder(NAME, workers, shape.tileLengths());
        long total = shape.totalBlocks();
        if (total == 0) {
            return b.build();
        }
        int g = (int) Math.min(workers, total);
        long maxTiles = (total + g - 1) / g;
        long highLoad = total - (maxTiles - 1) * g;
        // Walk tiles and workers together: a cursor on the flat axis, the tile holding it, and its first block.
        int tile = 0;
        long tileStart = 0;
        for (int c = 0; c < g; c++) {
            long start = c < highLoad ? c * maxTiles : highLoad * maxTiles + (c - highLoad) * (maxTiles - 1);
            long end = start + (c < highLoad ? maxTiles : maxTiles - 1);
            long it = start;
            while (it < end) {
                while (tileStart + shape.blocks(tile) <= it) {
                    tileStart += shape.blocks(tile);
                    tile++;
                }
                long stop = Math.min(end, tileStart + shape.blocks(tile));
                int from = (int) (it - tileStart) * shape.block();
                int to = (int) Math.min(shape.length(tile), (stop - tileStart) * shape.block());
                b.add(c, tile, from, to);
                it = stop;
            }
        }
        return b.build();
    }
}
