package dev.launch.e2e;

import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The reading of queries OperationsIT relies on: a label a query needs is never missed. */
class PromQueriesTest {
    @Test
    void aHistogramQuantileNeedsItsGroupingLabelsAndLeOnTheBucketsOnly() {
        assertEquals(Map.of("launch_run_dispatch_seconds_bucket{queue=~\".*\"}", Set.of("le", "until", "queue")),
                PromQueries.selectors("histogram_quantile(0.95, sum by (le, until) (rate("
                        + "launch_run_dispatch_seconds_bucket{queue=~\".*\"}[1m])))"));
    }

    @Test
    void aJoinNeedsItsLabelOnBothSidesAndMatchersTheirs() {
        Map<String, Set<String>> selectors = PromQueries.selectors("max by (queue) "
                + "(launch_queue_oldest_queued_age_seconds) > 600 unless on (queue) sum by (queue) "
                + "(increase(launch_run_dispatch_seconds_count{until=\"claimed\"}[10m])) > 0");
        assertEquals(Set.of("queue"), selectors.get("launch_queue_oldest_queued_age_seconds"));
        assertEquals(Set.of("queue", "until"), selectors.get("launch_run_dispatch_seconds_count{until=\"claimed\"}"));
    }

    @Test
    void labelValuesThatLookLikeMetricsOrMatchersAreNotTakenForThem() {
        assertEquals(Map.of("launch_kafka_consumer_lag_records{group!~\"launch\\\\.agents\\\\..*\",topic=\"launch_fake_total=b\"}",
                        Set.of("group", "topic")),
                PromQueries.selectors("launch_kafka_consumer_lag_records{group!~\"launch\\\\.agents\\\\..*\","
                        + "topic=\"launch_fake_total=b\"}"));
        assertEquals(Map.of("up{job=\"launch\"}", Set.of("job", "service")),
                PromQueries.selectors("sum by (service) (up{job=\"launch\"})"));
    }
}
