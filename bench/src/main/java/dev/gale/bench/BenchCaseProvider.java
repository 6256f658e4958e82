package dev.gale.bench;

import dev.gale.bench.report.Table;
import java.util.List;
import java.util.function.Predicate;

/**
 * Each op family lists its report cases through this, found with ServiceLoader
 * (META-INF/services/dev.gale.bench.BenchCaseProvider).
 *
 * @see BenchCase
 */
public interface BenchCaseProvider {
    /** The cases at real model shapes; {@code quick} asks for a small subset that runs in seconds. */
    List<BenchCase> cases(boolean quick);

    /**
     * Measurements that are not one op at one shape (build times, launch overhead), made after every case has run
     * and shown as tables of their own. {@code wanted} is the runner's {@code --filter} (always true without one):
     * a provider measures only the tables whose title it accepts. None by default.
     */
    default List<Table> tables(boolean quick, Predicate<String> wanted) {
        return List.of();
    }
}
