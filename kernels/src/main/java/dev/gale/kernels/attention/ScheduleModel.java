package dev.gale.kernels.attention;

/**
 * A makespan model of the decode schedules, to reason about (and check against measurements) rather than to trust:
 * a worker (a CPU pool thread, or one resident work group on a GPU SM) folds a KV block in {@code blockCost}, pays
 * {@code segmentCost} per segment (setting up and storing one partial state), and the merge pass costs
 * {@code slotCost} per partial slot, spread over all workers. Workers are independent (decode is bandwidth bound, and
 * the model lets each worker have its share of the bandwidth), so the partial pass takes as long as the busiest
 * worker.
 *
 * <p>Wave quantization falls out of the lists: one-pass and split-K deal equal items round-robin, so {@code n} items
 * on {@code N} workers take {@code ⌈n/N⌉} item times; LeanAttention's ranges differ by at most one block.
 *
 * @param blockCost   time to fold one full KV block
 * @param segmentCost fixed time per segment (partial state reset and store)
 * @param slotCost    merge time per partial slot (all rows of a tile)
 */
public record ScheduleModel(double blockCost, double segmentCost, double slotCost) {
    /** Costs in block units: a segment's setup about 2% of a block, a slot's merge about 2%. */
    public static final ScheduleModel DEFAULT = new ScheduleModel(1.0, 0.02, 0.02);

    /** Modelled time of running {@code list} over {@code shape}: busiest worker, then the merge pass. */
    public double makespan(WorkList list, DecodeShape shape) {
        int[] seg = list.segments();
        int[] start = list.workerStart();
        double worst = 0;
        for (int w = 0; w < list.workers(); w++) {
            double t = 0;
            for (int s = start[w]; s < start[w + 1]; s++) {
                int tokens = seg[s * WorkList.SEG + 2] - seg[s * WorkList.SEG + 1];
                t += blockCost * tokens / shape.block() + segmentCost;
            }
            worst = Math.max(worst, t);
        }
        return worst + slotCost * list.slots() / list.workers();
    }

    /** The modelled time of each schedule: {@code [one-pass, split-K, lean]}. */
    public double[] makespans(DecodeShape shape, int workers) {
        return new double[] {
            makespan(OnePassSchedule.build(shape, workers), shape),
            makespan(SplitKSchedule.build(shape, workers), shape),
            makespan(LeanSchedule.build(shape, workers), shape)};
    }

    /**
     * The GPU view: batch 1 (or {@code batch}), {@code kvHeads} KV heads (the g query heads of a KV head are packed
     * into one tile, §3.1 step 2), a context of {@code context} tokens, BLOCK_N from {@code headDim}, on {@code sms}
     * SMs running one work group each at a time. Returns {@code [one-pass, split-K, lean]} makespans.
     */
    public double[] gpu(int batch, int kvHeads, int context, int headDim, int sms) {
        return makespans(DecodeShape.uniform(batch, kvHeads, context, headDim), sms);
    }
}
