package dev.launch.agent.target;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;

import java.time.Duration;
import java.util.List;
import java.util.Locale;

/**
 * The calls a target makes to what runs its work — the container engine's commands, the Kubernetes API server's
 * requests, SageMaker's and CloudWatch Logs' API operations — timed as {@code launch_target_calls_seconds{target,
 * operation, outcome}} (outcome {@code ok} or {@code error}; the count is the number of calls). Operations are the
 * API's own names (a command, an HTTP method and resource kind, an AWS operation), so their number stays small;
 * streams that stay open (container events, log follows, watches) are timed until their answer begins.
 */
public final class TargetCalls {
    private static final Duration[] BUCKETS = {Duration.ofMillis(5), Duration.ofMillis(10), Duration.ofMillis(25),
            Duration.ofMillis(50), Duration.ofMillis(100), Duration.ofMillis(250), Duration.ofMillis(500),
            Duration.ofSeconds(1), Duration.ofMillis(2500), Duration.ofSeconds(5), Duration.ofSeconds(10),
            Duration.ofSeconds(30), Duration.ofMinutes(2)};

    private final MeterRegistry registry;
    private final String target;

    public TargetCalls(MeterRegistry registry, String target) {
        this.registry = registry;
        this.target = target;
    }

    /** Calls counted nowhere (targets made by tests without a registry). */
    public static TargetCalls none(String target) {
        return new TargetCalls(new SimpleMeterRegistry(), target);
    }

    /** One call of {@code operation}, begun at {@code startedNanos} ({@link System#nanoTime}). */
    public void record(String operation, long startedNanos, boolean failed) {
        Timer.builder("launch_target_calls_seconds")
                .description("calls a target made to its engine, API server or cloud API, by operation and outcome")
                .tag("target", target).tag("operation", operation).tag("outcome", failed ? "error" : "ok")
                .serviceLevelObjectives(BUCKETS).register(registry)
                .record(Duration.ofNanos(Math.max(0, System.nanoTime() - startedNanos)));
    }

    /**
     * A Kubernetes API request as an operation: its verb (the HTTP method, {@code WATCH} for a watch) and the
     * resource kind, with its subresource ({@code GET pods/log}, {@code POST jobs}).
     */
    public static String kubernetesOperation(String method, java.net.URI uri) {
        String verb = method.toUpperCase(Locale.ROOT);
        String query = uri.getRawQuery();
        if (query != null && (query.contains("watch=true") || query.contains("watch=1"))) {
            verb = "WATCH";
        }
        List<String> segments = java.util.Arrays.stream(uri.getPath().split("/")).filter(s -> !s.isEmpty()).toList();
        int at = segments.indexOf("namespaces");
        String resource;
        String sub = null;
        if (at >= 0 && segments.size() > at + 2) {
            resource = segments.get(at + 2);
            if (segments.size() > at + 4) {
                sub = segments.get(at + 4);
            }
        } else if (at >= 0) {
            resource = "namespaces";
        } else {
            // /api/v1/<resource>... or /apis/<group>/<version>/<resource>...
            int first = !segments.isEmpty() && segments.get(0).equals("apis") ? 3 : 2;
            resource = segments.size() > first ? segments.get(first) : (segments.isEmpty() ? "root"
                    : segments.get(segments.size() - 1));
        }
        return verb + " " + resource + (sub == null ? "" : "/" + sub);
    }
}
