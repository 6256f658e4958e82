package dev.gale.kernels.attention;

import dev.gale.core.device.Capabilities;
import dev.gale.core.device.DeviceType;

/**
 * Chooses the decode schedule. The rule: build the one-pass, split-K and LeanAttention work lists for the shape and
 * worker count, and take the one with the smallest {@link ScheduleModel} makespan, preferring on a tie (within 1%)
 * the one with fewer partial slots (one-pass, then split-K, then lean), since slots cost scratch memory and a merge.
 * In practice: one-pass when the non-empty tiles are a multiple of the workers and equally long (nothing to balance);
 * LeanAttention when tiles are few or uneven against the workers (batch 1, few KV heads, mixed lengths), because its
 * ranges differ by at most one block; split-K only where its waves happen to come out even.
 *
 * <p>Workers: the shared pool's threads on the CPU; on a device, its compute units times the work groups one holds at
 * once (2 per SM on a GPU as in ORT's LeanAttention, 1 per compute unit on CPU-like devices, where a group is a
 * thread).
 */
public final class DecodePlanner {
    /** Which schedule to run; {@link #AUTO} lets the planner choose. */
    public enum Schedule {
        AUTO, ONE_PASS, SPLIT_K, LEAN
    }

    private final ScheduleModel model;

    public DecodePlanner(ScheduleModel model) {
        this.model = model;
    }

    public static DecodePlanner standard() {
        return new DecodePlanner(ScheduleModel.DEFAULT);
    }

    /** Work groups a device runs at once: compute units × groups per unit. */
    public static int deviceWorkers(Capabilities caps) {
        int perUnit = caps.type() == DeviceType.GPU ? 2 : 1;
        return Math.max(1, caps.computeUnits() * perUnit);
    }

    /** The list of {@code schedule} ({@link Schedule#AUTO}: the planner's choice) for {@code workers} workers. */
    public WorkList plan(Schedule schedule, DecodeShape shape, int workers) {
        return switch (schedule) {
            case ONE_PASS -> OnePassSchedule.build(shape, workers);
            case SPLIT_K -> SplitKSchedule.build(shape, workers);
            case LEAN -> LeanSchedule.build(shape, workers);
            case AUTO -> choose(shape, workers);
        };
    }

    /** The rule of the class comment. */
    public WorkList choose(DecodeShape shape, int workers) {
        WorkList[] lists = {
            OnePassSchedule.build(shape, workers),
            SplitKSchedule.build(shape, workers),
            LeanSchedule.build(shape, workers)};
        WorkList best = lists[0];
        double bestTime = model.makespan(best, shape);
        for (int i = 1; i < lists.length; i++) {
            double t = model.makespan(lists[i], shape);
            if (t < bestTime * 0.99) {
                best = lists[i];
                bestTime = t;
            }
        }
        return best;
    }
}
