package dev.launch.status.messaging;

import dev.launch.common.event.Topics;
import dev.launch.common.problem.ProblemException;
import io.smallrye.mutiny.Uni;
import jakarta.enterprise.context.ApplicationScoped;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.utils.Utils;
import org.eclipse.microprofile.config.inject.ConfigProperty;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;

/**
 * How far the read model has applied {@code launch.runs}, per partition, and waits on it: what makes a run
 * readable right after its 202 (ADR 0004). {@link StatusConsumers} reports each batch once its effect is stored;
 * a read that carries a consistency token waits until the offsets it names are applied. Partitions this instance
 * has not applied anything of since it started (another instance holds them, or nothing new came) are judged by
 * the group's committed offsets, which are also only committed after the effect is stored.
 */
@ApplicationScoped
public class ReadModelProgress {
    /** How often a wait looks at the group's committed offsets (partitions another instance applies). */
    private static final Duration COMMITTED_CHECK = Duration.ofMillis(250);

    @ConfigProperty(name = "mp.messaging.incoming.launch-runs.group.id")
    String group;
    /** The longest a read waits for the read model before answering 503 with Retry-After. */
    @ConfigProperty(name = "launch.status.consistency-wait", defaultValue = "5s")
    Duration maxWait;
    /** Run ids minted longer ago than this that are not in the read model are simply absent. */
    @ConfigProperty(name = "launch.status.consistency-window", defaultValue = "10m")
    Duration window;

    /** The request header that carries a 202's consistency token. */
    public static final String TOKEN_HEADER = "Launch-Consistency";

    /** partition → the next offset to apply (everything before it is stored) */
    private final Map<Integer, Long> next = new ConcurrentHashMap<>();
    /** partition → completed at its next stored batch (then replaced) */
    private final Map<Integer, CompletableFuture<Void>> progressed = new ConcurrentHashMap<>();
    private volatile Integer partitions;
    @jakarta.inject.Inject
    KafkaAdmin kafkaAdmin;
    /** reads waiting for the read model now */
    private final java.util.concurrent.atomic.AtomicInteger waiting = new java.util.concurrent.atomic.AtomicInteger();
    private final io.micrometer.core.instrument.Counter unavailable;

    @jakarta.inject.Inject
    ReadModelProgress(io.micrometer.core.instrument.MeterRegistry metrics) {
        metrics.gauge("launch_status_consistency_waits", waiting);
        unavailable = metrics.counter("launch_status_consistency_unavailable_total");
    }

    /** A consistency token that could not be read: a 400 saying what a token looks like. */
    public static Map<Integer, Long> parseToken(String token) {
        Map<Integer, Long> needed = new HashMap<>();
        for (String part : token.split(",", -1)) {
            String[] fields = part.trim().split(":", -1);
            try {
                if (fields.length != 3 || !fields[0].equals("runs")) {
                    throw new NumberFormatException();
                }
                int partition = Integer.parseInt(fields[1]);
                long offset = Long.parseLong(fields[2]);
                if (partition < 0 || offset < 0) {
                    throw new NumberFormatException();
                }
                needed.merge(partition, offset, Math::max);
            } catch (NumberFormatException e) {
                throw ProblemException.invalidField(TOKEN_HEADER, "must be the consistencyToken of an "
                        + "enqueue's 202 (runs:<partition>:<offset>, several comma-separated); got '" + token + "'");
            }
        }
        return needed;
    }

    /** The records of a stored batch: everything up to {@code offset} on {@code partition} is applied. */
    public void applied(int partition, long offset) {
        next.merge(partition, offset + 1, Math::max);
        CompletableFuture<Void> signal = progressed.remove(partition);
        if (signal != null) {
            signal.complete(null);
        }
    }

    /** The next offset of {@code partition} this instance will apply (-1 when it applied none since its start). */
    public long nextToApply(int partition) {
        return next(partition);
    }

    /** The consumer group that applies {@code launch.runs}. */
    public String group() {
        return group;
    }

    /** Whether every offset of {@code needed} is applied (by this instance, or committed by the group). */
    public boolean passed(Map<Integer, Long> needed) {
        for (Map.Entry<Integer, Long> e : needed.entrySet()) {
            if (next(e.getKey()) <= e.getValue()) {
                return false;
            }
        }
        return true;
    }

    private long next(int partition) {
        return next.getOrDefault(partition, -1L);
    }

    /**
     * Completes when the read model holds every record the token names (true), or with false after
     * {@code launch.status.consistency-wait}: the caller answers 503 with Retry-After.
     */
    public Uni<Boolean> await(Map<Integer, Long> needed) {
        if (passed(needed)) {
            return Uni.createFrom().item(true);
        }
        return counted(awaitUntil(needed, System.nanoTime() + maxWait.toNanos(),
                needed.keySet().stream().anyMatch(p -> !next.containsKey(p))))
                .invoke(passed -> {
                    if (!passed) {
                        unavailable.increment();
                    }
                });
    }

    private <T> Uni<T> counted(Uni<T> wait) {
        return Uni.createFrom().voidItem().invoke(waiting::incrementAndGet).chain(() -> wait)
                .eventually(waiting::decrementAndGet);
    }

    private Uni<Boolean> awaitUntil(Map<Integer, Long> needed, long deadline, boolean refresh) {
        CompletableFuture<?> signal = signal(needed.keySet()); // taken before the look: no wake-up is missed
        Uni<Void> committed = refresh ? refreshCommitted(needed.keySet()) : Uni.createFrom().voidItem();
        return committed.chain(() -> {
            if (passed(needed)) {
                return Uni.createFrom().item(true);
            }
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                return Uni.createFrom().item(false);
            }
            return progress(signal, left).chain(woken -> awaitUntil(needed, deadline, !woken));
        });
    }

    /**
     * For a read by run id without a token, once the run was not found: waits for the run to be stored and
     * returns what {@code find} then finds. A run id minted more than {@code launch.status.consistency-window}
     * ago, or one whose partition of {@code launch.runs} the read model has applied to its end (as it stood when
     * asked), is simply absent: null (a 404). A recent run the read model may not have reached yet is looked
     * for again at each stored batch of its partition; still not there after
     * {@code launch.status.consistency-wait}: a 503 with Retry-After, never a wrong 404 (ADR 0004).
     */
    public <T> Uni<T> awaitRun(String runId, Supplier<Uni<T>> find) {
        if (!recent(runId)) {
            return Uni.createFrom().nullItem();
        }
        long deadline = System.nanoTime() + maxWait.toNanos();
        return counted(Uni.createFrom().completionStage(() -> endOf(runId))
                .onFailure().transform(e -> behind("Kafka cannot be asked how far the read model has to go ("
                        + e.getMessage() + ")"))
                .chain(end -> lookAgain(end.getKey(), end.getValue(), deadline, find,
                        !next.containsKey(end.getKey()))));
    }

    private <T> Uni<T> lookAgain(int partition, long end, long deadline, Supplier<Uni<T>> find, boolean refresh) {
        CompletableFuture<?> signal = signal(Set.of(partition));
        Uni<Void> committed = refresh ? refreshCommitted(Set.of(partition)) : Uni.createFrom().voidItem();
        return committed.chain(() -> {
            // read before the look, so the look sees all of it. A run exists by its RunQueued, which the queue
            // service always writes in a transaction: its commit marker follows it on the same partition, so a
            // committed RunQueued lies before end - 1, and the read model past end - 1 has it. (The record at
            // end - 1 is often that marker, which a consumer never sees: waiting for end would never end.)
            boolean complete = next(partition) >= end - 1;
            return find.get().chain(found -> {
                if (found != null || complete) {
                    return Uni.createFrom().item(found);
                }
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw behind("the read model has not reached this run yet");
                }
                return progress(signal, left).chain(woken -> lookAgain(partition, end, deadline, find, !woken));
            });
        });
    }

    /** true when {@code signal} completed, false after the committed-offsets interval (or what is left). */
    private static Uni<Boolean> progress(CompletableFuture<?> signal, long leftNanos) {
        return Uni.createFrom().completionStage(signal).replaceWith(true)
                .ifNoItem().after(Duration.ofNanos(Math.min(leftNanos, COMMITTED_CHECK.toNanos())))
                .recoverWithItem(false);
    }

    private CompletableFuture<?> signal(Set<Integer> partitions) {
        return CompletableFuture.anyOf(partitions.stream()
                .map(p -> progressed.computeIfAbsent(p, k -> new CompletableFuture<>()))
                .toArray(CompletableFuture[]::new));
    }

    private ProblemException behind(String why) {
        unavailable.increment();
        return ProblemException.unavailable("The status service is behind: " + why + ". Retry shortly.", 1);
    }

    /** Whether the run id (UUIDv7) was minted within {@code launch.status.consistency-window}. */
    private boolean recent(String runId) {
        long minted = java.util.UUID.fromString(runId).getMostSignificantBits() >>> 16;
        return System.currentTimeMillis() - minted < window.toMillis();
    }

    /**
     * The partition of a run's facts (the producers' default partitioner: murmur2 of the key) and its last
     * stable offset: every committed record lies before it.
     */
    private CompletableFuture<Map.Entry<Integer, Long>> endOf(String runId) {
        return partitions().thenCompose(count -> {
            int partition = Utils.toPositive(Utils.murmur2(runId.getBytes(StandardCharsets.UTF_8))) % count;
            TopicPartition tp = new TopicPartition(Topics.RUNS, partition);
            return admin().listOffsets(Map.of(tp, OffsetSpec.latest()),
                            new ListOffsetsOptions(IsolationLevel.READ_COMMITTED))
                    .partitionResult(tp).toCompletionStage().toCompletableFuture()
                    .thenApply(info -> Map.entry(partition, info.offset()));
        });
    }

    /** The group's committed offsets of these partitions (committed only once stored) count as applied. */
    private Uni<Void> refreshCommitted(Set<Integer> partitions) {
        return Uni.createFrom().completionStage(() -> admin().listConsumerGroupOffsets(group)
                        .partitionsToOffsetAndMetadata().toCompletionStage())
                .invoke(offsets -> {
                    for (int p : partitions) {
                        OffsetAndMetadata committed = offsets.get(new TopicPartition(Topics.RUNS, p));
                        if (committed != null && committed.offset() > 0) {
                            applied(p, committed.offset() - 1);
                        }
                    }
                })
                .onFailure().recoverWithNull().replaceWithVoid();
    }

    private CompletableFuture<Integer> partitions() {
        Integer known = partitions;
        if (known != null) {
            return CompletableFuture.completedFuture(known);
        }
        return admin().describeTopics(List.of(Topics.RUNS)).topicNameValues().get(Topics.RUNS)
                .toCompletionStage().toCompletableFuture().thenApply(d -> {
                    partitions = d.partitions().size();
                    return partitions;
                });
    }

    private Admin admin() {
        return kafkaAdmin.get();
    }
}
