package dev.launch.status.metrics;

import dev.launch.common.run.RunState;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * What the read model sees runs go through, as metrics: how long runs waited to be dispatched, how long they ran,
 * how they ended and in which stage they failed. Fed once per committed transition (a fact applied again, or one
 * the state machine refused, changes nothing and is not counted), so every status-service instance counts only
 * the partitions of {@code launch.runs} it applies: sum them in queries.
 *
 * <p>Times are the facts' own: the wait runs from the enqueue's {@code enqueuedAt} (the queue service's clock at
 * the 202) to the {@code occurredAt} of the agent's claim or start (the agent's clock). On one host that is one
 * clock; across hosts it includes their clock difference.
 */
@ApplicationScoped
public class RunMetrics {
    /** Failure stages of the design (§4); anything else is counted as {@code other}, so the labels stay few. */
    private static final Set<String> STAGES = Set.of("enqueue", "agent", "build", "target", "run");
    /** Buckets for the dispatch SLOs: a claim within 50 ms on an idle queue up to a backlog of minutes. */
    private static final Duration[] DISPATCH_BUCKETS = {Duration.ofMillis(10), Duration.ofMillis(25),
            Duration.ofMillis(50), Duration.ofMillis(100), Duration.ofMillis(250), Duration.ofMillis(500),
            Duration.ofSeconds(1), Duration.ofMillis(2500), Duration.ofSeconds(5), Duration.ofSeconds(10),
            Duration.ofSeconds(30), Duration.ofMinutes(1), Duration.ofMinutes(5), Duration.ofMinutes(15),
            Duration.ofHours(1)};
    private static final Duration[] DURATION_BUCKETS = {Duration.ofSeconds(1), Duration.ofSeconds(10),
            Duration.ofMinutes(1), Duration.ofMinutes(5), Duration.ofMinutes(15), Duration.ofHours(1),
            Duration.ofHours(4), Duration.ofHours(12), Duration.ofDays(1), Duration.ofDays(3)};

    private static final List<String> OUTCOMES = List.of("finished", "failed", "stopped");

    @Inject
    MeterRegistry registry;
    private final Set<String> known = java.util.concurrent.ConcurrentHashMap.newKeySet();

    /**
     * Registers the queue's counters at 0 (once per queue and process): a counter that first appears at 1 is
     * invisible to {@code increase()} and {@code rate()}, so the first failures of a queue would raise no alert.
     */
    public void known(String queue) {
        if (!known.add(queue)) {
            return;
        }
        for (String outcome : OUTCOMES) {
            ended(queue, outcome);
        }
        for (String stage : STAGES) {
            failures(queue, stage);
        }
        failures(queue, "other");
    }

    private Counter ended(String queue, String outcome) {
        return Counter.builder("launch_runs_ended_total").description("runs that ended, by how")
                .tag("queue", queue).tag("outcome", outcome).register(registry);
    }

    private Counter failures(String queue, String stage) {
        return Counter.builder("launch_run_failures_total").description("runs that failed, by the stage that failed")
                .tag("queue", queue).tag("stage", stage).register(registry);
    }

    /** A run of {@code queue} went from {@code from} to {@code to} at {@code at} (see the class comment). */
    public void transition(String queue, RunState from, RunState to, int attempt, Instant enqueuedAt,
                           Instant runningSince, Instant at, String stage) {
        if (attempt == 1 && enqueuedAt != null) {
            if (from == RunState.QUEUED && to == RunState.CLAIMED) {
                dispatch(queue, "claimed").record(nonNegative(Duration.between(enqueuedAt, at)));
            } else if (to == RunState.RUNNING) {
                dispatch(queue, "running").record(nonNegative(Duration.between(enqueuedAt, at)));
            }
        }
        if (to.isTerminal()) {
            known(queue);
            String outcome = to.name().toLowerCase(Locale.ROOT);
            ended(queue, outcome).increment();
            if (runningSince != null) {
                Timer.builder("launch_run_duration_seconds")
                        .description("how long runs that reached RUNNING ran, from RUNNING to their end, by how "
                                + "they ended")
                        .tag("queue", queue).tag("outcome", outcome).serviceLevelObjectives(DURATION_BUCKETS)
                        .register(registry).record(nonNegative(Duration.between(runningSince, at)));
            }
            if (to == RunState.FAILED) {
                failures(queue, stage != null && STAGES.contains(stage) ? stage : "other").increment();
            }
        }
    }

    private Timer dispatch(String queue, String until) {
        return Timer.builder("launch_run_dispatch_seconds")
                .description("from a run's enqueue (its 202) to its first attempt's claim by an agent (until=claimed) "
                        + "or to that attempt RUNNING (until=running)")
                .tag("queue", queue).tag("until", until).serviceLevelObjectives(DISPATCH_BUCKETS)
                .register(registry);
    }

    private static Duration nonNegative(Duration d) {
        return d.isNegative() ? Duration.ZERO : d;
    }
}
