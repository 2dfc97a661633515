package dev.launch.status.metrics;

import dev.launch.common.event.Topics;
import dev.launch.common.run.Priority;
import dev.launch.common.run.RunState;
import dev.launch.status.messaging.KafkaAdmin;
import dev.launch.status.messaging.ReadModelProgress;
import dev.launch.status.repository.QueueIndex;
import dev.launch.status.service.AgentViews;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.MultiGauge;
import io.micrometer.core.instrument.Tags;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import io.smallrye.mutiny.Uni;
import io.vertx.core.Vertx;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Row;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import org.apache.kafka.clients.admin.ConsumerGroupListing;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.ListOffsetsResult;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;

/**
 * The state of the installation as gauges, from the read model, so they are right while no agent runs: runs per
 * queue and state, queue depth per level and the oldest wait, the oldest run in each in-flight state, agents and
 * their slots, consumer lag per group and the read model's lag behind {@code launch.runs}. Refreshed every
 * {@code launch.status.metrics-interval} (not per scrape: a scrape never waits on the database or Kafka). Every
 * queue the read model knows has its series, zeros included, so an empty queue is a 0 and not a gap.
 */
@ApplicationScoped
public class OperationsGauges {
    private static final Logger LOG = Logger.getLogger(OperationsGauges.class);
    /** States whose oldest run's age is shown: a run stuck in one of them needs someone. */
    private static final List<RunState> AGED = List.of(RunState.CLAIMED, RunState.STARTING, RunState.STOPPING);
    private static final List<String> AGENT_STATES = List.of("POLLING", "RUNNING", "LOST", "STOPPED");

    @Inject
    MeterRegistry registry;
    @Inject
    QueueIndex index;
    @Inject
    Pool pool;
    @Inject
    AgentViews agents;
    @Inject
    KafkaAdmin kafka;
    @Inject
    ReadModelProgress progress;
    @Inject
    Vertx vertx;
    @Inject
    RunMetrics runMetrics;
    @ConfigProperty(name = "launch.status.metrics-interval", defaultValue = "PT10S")
    Duration interval;

    private MultiGauge runs;
    private MultiGauge depth;
    private MultiGauge oldestQueued;
    private MultiGauge oldestInState;
    private MultiGauge agentsByState;
    private MultiGauge slots;
    private MultiGauge queueAgents;
    private MultiGauge consumerLag;
    private final java.util.concurrent.atomic.AtomicLong readModelLag = new java.util.concurrent.atomic.AtomicLong();
    private long timer = -1;
    private volatile boolean refreshing;
    private volatile String lastProblem;

    void start(@Observes StartupEvent event) {
        runs = MultiGauge.builder("launch_runs").description("runs in the read model per queue and state")
                .register(registry);
        depth = MultiGauge.builder("launch_queue_depth")
                .description("QUEUED runs per queue and priority level (level=default on queues without priorities)")
                .register(registry);
        oldestQueued = MultiGauge.builder("launch_queue_oldest_queued_age_seconds")
                .description("how long the oldest QUEUED run of the queue has waited since its enqueue (0: none)")
                .register(registry);
        oldestInState = MultiGauge.builder("launch_runs_oldest_in_state_seconds")
                .description("how long the oldest run of the queue in the state has been in it (0: none)")
                .register(registry);
        agentsByState = MultiGauge.builder("launch_agents")
                .description("agents by state (POLLING, RUNNING, LOST: silent too long, STOPPED)").register(registry);
        slots = MultiGauge.builder("launch_agent_slots")
                .description("run slots of serving agents (POLLING or RUNNING): used or free").register(registry);
        queueAgents = MultiGauge.builder("launch_queue_agents")
                .description("serving agents (POLLING or RUNNING) that serve the queue").register(registry);
        consumerLag = MultiGauge.builder("launch_kafka_consumer_lag_records")
                .description("records of the topic not yet consumed by the Launch consumer group, from its committed "
                        + "offsets (a group shows once it has committed)")
                .register(registry);
        registry.gauge("launch_status_read_model_lag_records", Tags.empty(), readModelLag);
        refresh();
        timer = vertx.setPeriodic(interval.toMillis(), id -> refresh());
    }

    void stop(@Observes ShutdownEvent event) {
        if (timer != -1) {
            vertx.cancelTimer(timer);
        }
    }

    /** Refreshes every gauge (one refresh at a time; a failed part keeps its last values and is logged once). */
    public Uni<Void> refreshNow() {
        return index.ready().chain(this::fromIndexAndDatabase).chain(this::fromAgents).chain(this::fromKafka)
                .invoke(() -> lastProblem = null)
                .onFailure().invoke(e -> {
                    String problem = e.toString();
                    if (!problem.equals(lastProblem)) {
                        LOG.warnf("the operations metrics could not be refreshed (they keep their last values): %s",
                                problem);
                        lastProblem = problem;
                    }
                });
    }

    private void refresh() {
        if (refreshing) {
            return;
        }
        refreshing = true;
        refreshNow().onTermination().invoke(() -> refreshing = false).subscribe().with(v -> { }, e -> { });
    }

    private Uni<Void> fromIndexAndDatabase() {
        return pool.query("SELECT queue, state, min(created_at) AS oldest_created, min(state_since) AS oldest_since "
                + "FROM run WHERE state IN ('QUEUED', 'CLAIMED', 'STARTING', 'STOPPING') GROUP BY queue, state")
                .execute().invoke(rows -> {
                    Instant now = Instant.now();
                    Map<String, Map<String, Double>> ages = new HashMap<>();
                    for (Row row : rows) {
                        String state = row.getString("state");
                        OffsetDateTime since = "QUEUED".equals(state) ? row.getOffsetDateTime("oldest_created")
                                : row.getOffsetDateTime("oldest_since");
                        if (since != null) {
                            ages.computeIfAbsent(row.getString("queue"), q -> new HashMap<>()).put(state,
                                    Math.max(0, Duration.between(since.toInstant(), now).toMillis() / 1000.0));
                        }
                    }
                    Set<String> queues = new TreeSet<>(index.queueNames());
                    queues.addAll(ages.keySet());
                    List<MultiGauge.Row<?>> runRows = new ArrayList<>();
                    List<MultiGauge.Row<?>> depthRows = new ArrayList<>();
                    List<MultiGauge.Row<?>> queuedRows = new ArrayList<>();
                    List<MultiGauge.Row<?>> stateRows = new ArrayList<>();
                    for (String queue : queues) {
                        runMetrics.known(queue);
                        Map<String, Long> states = index.states(queue);
                        for (RunState state : RunState.values()) {
                            runRows.add(MultiGauge.Row.of(Tags.of("queue", queue, "state", state.name()),
                                    states.getOrDefault(state.name(), 0L)));
                        }
                        long[] byRank = index.queuedByRank(queue);
                        if (index.levelled(queue)) {
                            for (Priority level : Priority.values()) {
                                depthRows.add(MultiGauge.Row.of(Tags.of("queue", queue, "level", level.label()),
                                        byRank[level.rank()]));
                            }
                        } else {
                            long total = 0;
                            for (long n : byRank) {
                                total += n;
                            }
                            depthRows.add(MultiGauge.Row.of(Tags.of("queue", queue, "level", "default"), total));
                        }
                        Map<String, Double> queueAges = ages.getOrDefault(queue, Map.of());
                        queuedRows.add(MultiGauge.Row.of(Tags.of("queue", queue), queueAges.getOrDefault("QUEUED", 0.0)));
                        for (RunState state : AGED) {
                            stateRows.add(MultiGauge.Row.of(Tags.of("queue", queue, "state", state.name()),
                                    queueAges.getOrDefault(state.name(), 0.0)));
                        }
                    }
                    runs.register(runRows, true);
                    depth.register(depthRows, true);
                    oldestQueued.register(queuedRows, true);
                    oldestInState.register(stateRows, true);
                }).replaceWithVoid();
    }

    private Uni<Void> fromAgents() {
        return agents.all().invoke(views -> {
            Map<String, Long> byState = new HashMap<>();
            long used = 0;
            long free = 0;
            Map<String, Long> perQueue = new HashMap<>();
            index.queueNames().forEach(q -> perQueue.put(q, 0L));
            for (AgentViews.AgentView view : views) {
                byState.merge(view.state(), 1L, Long::sum);
                if (view.isServing()) {
                    int held = view.agent().runs().size();
                    used += held;
                    free += Math.max(0, view.agent().maxJobs() - held);
                    view.agent().queues().forEach(q -> perQueue.merge(q, 1L, Long::sum));
                }
            }
            List<MultiGauge.Row<?>> stateRows = new ArrayList<>();
            for (String state : AGENT_STATES) {
                stateRows.add(MultiGauge.Row.of(Tags.of("state", state), byState.getOrDefault(state, 0L)));
            }
            agentsByState.register(stateRows, true);
            slots.register(List.of(MultiGauge.Row.of(Tags.of("state", "used"), used),
                    MultiGauge.Row.of(Tags.of("state", "free"), free)), true);
            List<MultiGauge.Row<?>> queueRows = new ArrayList<>();
            perQueue.forEach((q, n) -> queueRows.add(MultiGauge.Row.of(Tags.of("queue", q), n)));
            queueAgents.register(queueRows, true);
        }).replaceWithVoid();
    }

    /** Lag of every {@code launch.*} consumer group, and of the read model (what it applied, or committed). */
    private Uni<Void> fromKafka() {
        var admin = kafka.get();
        return Uni.createFrom().completionStage(() -> admin.listConsumerGroups().all().toCompletionStage())
                .chain(listings -> {
                    List<String> groups = listings.stream().map(ConsumerGroupListing::groupId)
                            .filter(g -> g.startsWith("launch.")).sorted().toList();
                    List<CompletableFuture<Map.Entry<String, Map<TopicPartition, OffsetAndMetadata>>>> offsets =
                            new ArrayList<>();
                    for (String group : groups) {
                        offsets.add(admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata()
                                .toCompletionStage().toCompletableFuture().thenApply(o -> Map.entry(group, o)));
                    }
                    return Uni.createFrom().completionStage(CompletableFuture.allOf(offsets.toArray(
                            CompletableFuture[]::new)).thenApply(v -> offsets.stream().map(CompletableFuture::join)
                            .toList()));
                })
                .chain(committed -> {
                    Map<TopicPartition, OffsetSpec> wanted = new HashMap<>();
                    committed.forEach(e -> e.getValue().keySet().forEach(tp -> wanted.put(tp, OffsetSpec.latest())));
                    Uni<Map<Integer, Long>> runsPartitions = Uni.createFrom().completionStage(() -> admin
                            .describeTopics(List.of(Topics.RUNS)).allTopicNames().toCompletionStage()).map(d -> {
                                Map<Integer, Long> none = new HashMap<>();
                                d.get(Topics.RUNS).partitions().forEach(p -> none.put(p.partition(), 0L));
                                return none;
                            });
                    return runsPartitions.chain(runsParts -> {
                        runsParts.keySet().forEach(p -> wanted.put(new TopicPartition(Topics.RUNS, p),
                                OffsetSpec.latest()));
                        return Uni.createFrom().completionStage(() -> admin.listOffsets(wanted,
                                        new ListOffsetsOptions(IsolationLevel.READ_COMMITTED)).all().toCompletionStage())
                                .invoke(ends -> lags(committed, ends, runsParts.keySet()));
                    });
                }).replaceWithVoid();
    }

    private void lags(List<Map.Entry<String, Map<TopicPartition, OffsetAndMetadata>>> committed,
                      Map<TopicPartition, ListOffsetsResult.ListOffsetsResultInfo> ends, Set<Integer> runsPartitions) {
        List<MultiGauge.Row<?>> rows = new ArrayList<>();
        Map<TopicPartition, Long> readModelCommitted = new HashMap<>();
        for (Map.Entry<String, Map<TopicPartition, OffsetAndMetadata>> group : committed) {
            Map<String, Long> perTopic = new java.util.TreeMap<>();
            group.getValue().forEach((tp, offset) -> {
                var end = ends.get(tp);
                if (end == null || offset == null) {
                    return;
                }
                perTopic.merge(tp.topic(), Math.max(0, end.offset() - offset.offset()), Long::sum);
                if (group.getKey().equals(progress.group())) {
                    readModelCommitted.put(tp, offset.offset());
                }
            });
            perTopic.forEach((topic, lag) -> rows.add(MultiGauge.Row.of(Tags.of("group", group.getKey(), "topic",
                    topic), lag)));
        }
        consumerLag.register(rows, true);
        long behind = 0;
        for (int p : runsPartitions) {
            TopicPartition tp = new TopicPartition(Topics.RUNS, p);
            var end = ends.get(tp);
            if (end == null) {
                continue;
            }
            long applied = Math.max(progress.nextToApply(p), readModelCommitted.getOrDefault(tp, 0L));
            behind += Math.max(0, end.offset() - applied);
        }
        readModelLag.set(behind);
    }
}
