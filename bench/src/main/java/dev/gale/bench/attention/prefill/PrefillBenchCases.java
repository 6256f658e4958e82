package dev.gale.bench.attention.prefill;

import dev.gale.bench.BenchCase;
import dev.gale.bench.BenchCaseProvider;
import dev.gale.bench.BenchDevices;
import dev.gale.core.device.Device;
import dev.gale.kernels.attention.AttentionSpec;
import java.util.ArrayList;
import java.util.List;

/**
 * Prefill attention at 2k context, causal, Llama GQA shapes (32 query heads, 8 KV heads): d = 128 (Llama-3-8B) and
 * d = 64 (Llama-3.2-1B). The Vector API path against the FMA peak, and the device kernel on each device with a kernel
 * runner ({@link BenchDevices#withRunner()}) at the same shape at d = 64 (paired with the Vector API case: the report's "vs Vector API" ratio).
 *
 * <p>FLOP convention: {@code 4·d·Hq} per (query, key) pair the masks leave ({@code 2·d} for {@code q·k}, {@code 2·d}
 * for {@code p·v}), pairs counted exactly: {@code N(N+1)/2} for a causal sequence of {@code N}, so about half of
 * {@code 4·N²·d·Hq}. The exponentials, maxima and rescaling are not counted.
 */
public final class PrefillBenchCases implements BenchCaseProvider {
    @Override
    public List<BenchCase> cases(boolean quick) {
        int n = quick ? 512 : 2048;
        List<AttentionSpec> specs = List.of(AttentionSpec.of(32, 8, 128, true), AttentionSpec.of(32, 8, 64, true));
        List<BenchCase> c = new ArrayList<>();
        for (AttentionSpec s : specs) {
            c.add(new PrefillCase(s, n, origin(s)));
        }
        // The device kernel at d = 64 only: at d = 128 one PoCL run takes tens of seconds on a 2-core machine, and
        // the runner needs 15 or more of them.
        for (Device d : BenchDevices.withRunner()) {
            c.add(new PrefillDeviceCase(d, specs.get(1), n, origin(specs.get(1))));
        }
        return c;
    }

    static String origin(AttentionSpec s) {
        return s.headDim() == 128 ? "Llama-3-8B" : "Llama-3.2-1B";
    }
}
