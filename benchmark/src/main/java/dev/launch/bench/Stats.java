package dev.launch.bench;

import java.util.Collection;

/** Percentiles of a sample (nearest rank), in the sample's unit. */
public record Stats(int count, double p50, double p95, double p99, double max) {

    public static Stats of(Collection<Double> values) {
        double[] sorted = values.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        if (sorted.length == 0) {
            return new Stats(0, Double.NaN, Double.NaN, Double.NaN, Double.NaN);
        }
        return new Stats(sorted.length, rank(sorted, 50), rank(sorted, 95), rank(sorted, 99), sorted[sorted.length - 1]);
    }

    /** The nearest-rank percentile {@code p} of an ascending array. */
    static double rank(double[] sorted, double p) {
        int index = (int) Math.ceil(p / 100.0 * sorted.length) - 1;
        return sorted[Math.max(0, Math.min(sorted.length - 1, index))];
    }

    /** {@code p50 / p95 / p99} in milliseconds, one decimal. */
    public String ms() {
        return count == 0 ? "n/a" : String.format("%.1f / %.1f / %.1f", p50, p95, p99);
    }

    @Override
    public String toString() {
        return ms() + " ms (n=" + count + ", max " + String.format("%.1f", max) + ")";
    }
}
