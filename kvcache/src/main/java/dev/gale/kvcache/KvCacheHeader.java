package dev.gale.kvcache;

import java.util.Map;
import java.util.TreeMap;

/**
 * What a KV-cache file says about itself, beyond its bytes: whose cache it is and how to read it.
 *
 * @param modelId    identity of the model that filled the cache (a hash of weights and config); a file is only
 *                   accepted by the same model
 * @param precision  KV precision and layout, for example {@code f16} or {@code int4-kivi-g32-r128}
 * @param policy     eviction policy, for example {@code full} or {@code sinks:4,window:2044}
 * @param tokens     tokens the cache holds (the next position to decode is derived from it and the policy)
 * @param attributes further layout facts the cache needs to resume (capacity, positions, group sizes…); plain
 *                   strings, compared verbatim
 */
public record KvCacheHeader(String modelId, String precision, String policy, long tokens,
        Map<String, String> attributes) {
    public KvCacheHeader {
        requireText("modelId", modelId);
        requireText("precision", precision);
        requireText("policy", policy);
        if (tokens < 0) {
            throw new IllegalArgumentException("KV cache header: tokens must be >= 0, got " + tokens);
        }
        attributes = Map.copyOf(new TreeMap<>(attributes));
    }

    private static void requireText(String field, String v) {
        if (v == null || v.isEmpty() || v.length() > 1024 || v.chars().anyMatch(c -> c < 0x20)) {
            throw new IllegalArgumentException("KV cache header: " + field + " must be 1-1024 printable characters");
        }
    }
}
