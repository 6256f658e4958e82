package dev.gale.models;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.zip.CRC32C;

/**
 * A model's identity for files derived from it (saved KV caches): SHA-256 over its configuration, every tensor's
 * name, type and shape, and a CRC32C of every tensor's bytes. The CRC, not a cryptographic hash, covers the weights
 * because it runs at memory speed on gigabytes; it guards against mixing up models, not against an adversary.
 */
public final class ModelIdentity {
    private ModelIdentity() {
    }

    public static String of(LlamaModel m) {
        MessageDigest sha;
        try {
            sha = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK always has SHA-256", e);
        }
        sha.update(m.config().toString().getBytes(StandardCharsets.UTF_8));
        for (WeightTensor t : m.weights().all()) {
            CRC32C crc = new CRC32C();
            var seg = t.data().segment();
            for (long o = 0; o < seg.byteSize(); o += 1L << 30) {
                crc.update(seg.asSlice(o, Math.min(1L << 30, seg.byteSize() - o)).asByteBuffer());
            }
            sha.update((t.name() + ":" + t.type() + ":" + Arrays.toString(t.shape()) + ":" + crc.getValue() + "\n")
                    .getBytes(StandardCharsets.UTF_8));
        }
        return "llama-sha256:" + HexFormat.of().formatHex(sha.digest());
    }
}
