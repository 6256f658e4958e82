package dev.gale.kernels.attention;

/**
 * One pass per (sequence, KV head) tile: the FlashAttention-2 decode grid. Tile {@code t} goes whole to worker
 * {@code t mod workers}, which is exactly how a GPU runs a grid of one block per tile in waves of {@code workers}: when
 * the tile count is not a multiple of the worker count, the last wave leaves workers idle (the wave quantization
 * LeanAttention removes). No tile is split, so the merge pass only normalises.
 */
public final class OnePassSchedule {
    public static final String NAME = "one-pass";

    private OnePassSchedule() {
    }

    public static WorkList build(DecodeShape shape, int workers) {
        WorkList.Builder b = WorkList.builder(NAME, workers, shape.tileLengths());
        int next = 0;
        for (int t = 0; t < shape.tiles(); t++) {
            if (shape.length(t) > 0) {
                b.add(next++ % workers, t, 0, shape.length(t));
            }
        }
        return b.build();
    }
}
