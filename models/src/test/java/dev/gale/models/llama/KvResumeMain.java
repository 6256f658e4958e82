package dev.gale.models.llama;

import dev.gale.core.device.Devices;
import dev.gale.models.LlamaModel;
import dev.gale.models.ModelIdentity;
import dev.gale.models.llama2c.Llama2cCheckpoint;
import java.nio.file.Path;
import java.util.StringJoiner;
import org.apache.arrow.memory.RootAllocator;

/**
 * The other process of {@link KvCacheResumeTest}: maps a saved session and continues it. Arguments: model file, cache
 * file, KV type, temperature, tokens to generate. Prints the tokens, comma-separated, on one line.
 */
public final class KvResumeMain {
    public static void main(String[] args) {
        try (LlamaModel m = Llama2cCheckpoint.load(Path.of(args[0]));
             BoundWeights w = new BoundWeights(m.config(), m.weights()); RootAllocator alloc = new RootAllocator();
             LlamaSession s = LlamaSession.resume(w, alloc, "resumed", KvCacheResumeTest.options(Devices.cpu(),
                     args[2], Float.parseFloat(args[3])), Path.of(args[1]), ModelIdentity.of(m))) {
            int token = Integer.parseInt(s.savedAttributes().get("next"));
            StringJoiner out = new StringJoiner(",");
            for (int i = 0; i < Integer.parseInt(args[4]); i++) {
                out.add(Integer.toString(token));
                token = s.step(token);
            }
            System.out.println(out);
        }
    }
}
