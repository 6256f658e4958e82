package dev.gale.bench;

import java.util.List;

/**
 * Each op family lists its report cases through this, found with ServiceLoader
 * (META-INF/services/dev.gale.bench.BenchCaseProvider).
 *
 * @see BenchCase
 */
public interface BenchCaseProvider {
    /** The cases at real model shapes; {@code quick} asks for a small subset that runs in seconds. */
    List<BenchCase> cases(boolean quick);
}
