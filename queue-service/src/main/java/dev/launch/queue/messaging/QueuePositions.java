package dev.launch.queue.messaging;

import dev.launch.messaging.TopicAdmin;
import dev.launch.common.event.Topics;
import dev.launch.common.run.OffsetRanks;
import dev.launch.common.run.Priority;
import dev.launch.queue.repository.EnqueueStore;
import io.smallrye.mutiny.Uni;
import jakarta.inject.Inject;
import org.jboss.logging.Logger;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.eclipse.microprofile.config.inject.ConfigProperty;

import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * Kafka-side facts about queues: creating and deleting a queue's single-partition topics (one, or one per
 * priority level), how far the agents of a queue have got (their group's committed offsets), and the offsets of
 * the items accepted here that they have not passed yet, from which a new run's position is counted in
 * O(log n) at any depth ({@link #ahead}). Those offsets are kept in memory: registered by the writer as its
 * transactions commit, and read once from {@code enqueued_run} per queue after a start (so runs accepted before
 * a restart count too).
 */
@ApplicationScoped
public class QueuePositions {
    private static final Logger LOG = Logger.getLogger(QueuePositions.class);

    @ConfigProperty(name = "kafka.bootstrap.servers")
    String bootstrap;
    @Inject
    EnqueueStore store;

    /** The items of one queue accepted here and not yet known to be passed by its agents, per level. */
    private static final class Accepted {
        /** per level (the key null on a queue without priorities); guarded by this */
        final Map<Priority, OffsetRanks> levels = new java.util.HashMap<>();
        /** the read of the items accepted before this service started; null until asked, or after a failure */
        Uni<Void> loaded;

        OffsetRanks level(Priority level) {
            return levels.computeIfAbsent(level, l -> new OffsetRanks());
        }
    }

    private final Map<String, Accepted> accepted = new java.util.concurrent.ConcurrentHashMap<>();

    private Admin admin;

    void start(@Observes StartupEvent event) {
        admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap,
                AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 10_000,
                AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 5_000));
    }

    void stop(@Observes ShutdownEvent event) {
        admin.close();
    }

    /** Creates the queue's single-partition topics: one, or one per level with priorities (blocking). */
    public void createQueueTopics(String queue, boolean prioritized) {
        TopicAdmin.ensure(admin, TopicAdmin.queueTopics(queue, prioritized));
    }

    /** Deletes the queue's topics, with or without levels (blocking); topics already gone are fine. */
    public void deleteQueueTopics(String queue) {
        accepted.remove(queue); // a queue made again under this name starts from offset 0
        List<String> topics = new java.util.ArrayList<>(Topics.queueTopics(queue, false));
        topics.addAll(Topics.queueTopics(queue, true));
        var results = admin.deleteTopics(topics).topicNameValues();
        for (var entry : results.entrySet()) {
            try {
                entry.getValue().get(30, java.util.concurrent.TimeUnit.SECONDS);
            } catch (java.util.concurrent.ExecutionException e) {
                if (!(e.getCause() instanceof org.apache.kafka.common.errors.UnknownTopicOrPartitionException)) {
                    throw new IllegalStateException("cannot delete topic " + entry.getKey() + ": "
                            + e.getCause().getMessage(), e.getCause());
                }
            } catch (java.util.concurrent.TimeoutException e) {
                throw new IllegalStateException("Kafka did not delete topic " + entry.getKey() + " in time", e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while deleting a topic", e);
            }
        }
    }

    /**
     * The offset of the next item the agents of {@code queue} will take, per level (the key null for a queue
     * without levels): their group's committed offset, or the topic's start when they have none.
     */
    public CompletionStage<Map<Priority, Long>> nextToTake(String queue, boolean prioritized) {
        Known known = recent.get(queue);
        if (known != null && System.nanoTime() - known.at() < RECENT_NANOS) {
            return CompletableFuture.completedFuture(known.next());
        }
        return read(queue, prioritized).thenApply(next -> {
            recent.put(queue, new Known(java.util.Collections.unmodifiableMap(new java.util.HashMap<>(next)), System.nanoTime()));
            return next;
        });
    }

    /** The writer committed an item of {@code queue} on {@code level} (null: no levels) at {@code offset}. */
    public void accepted(String queue, Priority level, long offset) {
        Accepted items = accepted.computeIfAbsent(queue, q -> new Accepted());
        synchronized (items) {
            items.level(level).add(offset);
        }
    }

    /**
     * Accepted runs ahead of a new one at {@code offset} of level {@code own} (null: a queue without levels),
     * given the agents' next offsets {@code next} per level: those of its own level from its next offset up to
     * its own, and every one of a higher level from that level's next offset on. Items the agents have passed
     * are dropped on the way. When the items accepted before a restart cannot be read now, counts those
     * accepted since.
     */
    public Uni<Long> ahead(String queue, Priority own, long offset, Map<Priority, Long> next) {
        Accepted items = accepted.computeIfAbsent(queue, q -> new Accepted());
        return loaded(queue, own, items, next).map(ignored -> {
            synchronized (items) {
                long ahead = 0;
                for (var entry : items.levels.entrySet()) {
                    Priority level = entry.getKey();
                    OffsetRanks offsets = entry.getValue();
                    Long passed = next.get(level);
                    if (passed != null) {
                        offsets.removeBefore(passed);
                    }
                    if (level == own) {
                        ahead += offsets.before(offset);
                    } else if (own != null && level != null && level.rank() < own.rank()) {
                        ahead += offsets.size();
                    }
                }
                return ahead;
            }
        });
    }

    private Uni<Void> loaded(String queue, Priority own, Accepted items, Map<Priority, Long> next) {
        synchronized (items) {
            if (items.loaded == null) {
                List<Priority> levels = own == null ? java.util.Collections.singletonList(null)
                        : List.of(Priority.values());
                Uni<Void> read = Uni.createFrom().voidItem();
                for (Priority level : levels) {
                    read = read.chain(() -> store.acceptedFrom(queue, level, next.getOrDefault(level, 0L)))
                            .invoke(earlier -> {
                                synchronized (items) {
                                    earlier.forEach(o -> items.level(level).add(o));
                                }
                            }).replaceWithVoid();
                }
                items.loaded = read.onFailure().recoverWithUni(e -> {
                    LOG.warnf("the runs queued on %s before this service started cannot be read now (%s); "
                            + "positions count those accepted since", queue, e.toString());
                    synchronized (items) {
                        items.loaded = null;
                    }
                    return Uni.createFrom().voidItem();
                }).memoize().indefinitely();
            }
            return items.loaded;
        }
    }

    /** What the agents' group had committed, read at {@code at} (nanoTime). */
    private record Known(Map<Priority, Long> next, long at) {
    }

    /**
     * Reads of the agents' progress are shared for this long: under load every enqueue would otherwise ask the
     * group coordinator, and a position is an estimate at acceptance anyway.
     */
    private static final long RECENT_NANOS = 100_000_000L;
    private final Map<String, Known> recent = new java.util.concurrent.ConcurrentHashMap<>();

    private CompletionStage<Map<Priority, Long>> read(String queue, boolean prioritized) {
        Map<TopicPartition, Priority> partitions = new java.util.HashMap<>();
        if (prioritized) {
            for (Priority level : Priority.values()) {
                partitions.put(new TopicPartition(Topics.queueLevel(queue, level), 0), level);
            }
        } else {
            partitions.put(new TopicPartition(Topics.queue(queue), 0), null);
        }
        return admin.listConsumerGroupOffsets(Topics.agentGroup(queue)).partitionsToOffsetAndMetadata()
                .toCompletionStage()
                .thenCompose(committed -> {
                    Map<TopicPartition, OffsetSpec> unknown = new java.util.HashMap<>();
                    Map<Priority, Long> next = new java.util.HashMap<>();
                    partitions.forEach((partition, level) -> {
                        OffsetAndMetadata mark = committed.get(partition);
                        if (mark != null) {
                            next.put(level, mark.offset());
                        } else {
                            unknown.put(partition, OffsetSpec.earliest());
                        }
                    });
                    if (unknown.isEmpty()) {
                        return CompletableFuture.completedFuture(next);
                    }
                    return admin.listOffsets(unknown).all().toCompletionStage().thenApply(earliest -> {
                        earliest.forEach((partition, info) -> next.put(partitions.get(partition), info.offset()));
                        return next;
                    });
                });
    }
}
