package dev.launch.common.event;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.errors.TopicExistsException;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Creates the contract's topics with their partition counts and cleanup policies. Every service calls
 * {@link #ensureShared} at start-up; creating an existing topic is a no-op.
 */
public final class TopicAdmin {
    /** Partitions of the run-keyed topics: enough for several status consumers, few enough for 2 cores. */
    public static final int RUN_PARTITIONS = 6;

    private TopicAdmin() {
    }

    public static List<NewTopic> sharedTopics() {
        Map<String, String> compact = Map.of("cleanup.policy", "compact");
        return List.of(
                new NewTopic(Topics.JOBS, 1, (short) 1).configs(compact),
                new NewTopic(Topics.QUEUES, 1, (short) 1).configs(compact),
                new NewTopic(Topics.RUNS, RUN_PARTITIONS, (short) 1),
                new NewTopic(Topics.RUN_COMMANDS, RUN_PARTITIONS, (short) 1),
                new NewTopic(Topics.RUN_LOGS, RUN_PARTITIONS, (short) 1),
                new NewTopic(Topics.AGENTS, 3, (short) 1),
                new NewTopic(Topics.DEAD_LETTER, 1, (short) 1));
    }

    /**
     * The single-partition topics of a queue (one, or one per priority level): one partition is what keeps
     * a queue, or a level, in order.
     */
    public static List<NewTopic> queueTopics(String queue, boolean prioritized) {
        return Topics.queueTopics(queue, prioritized).stream().map(t -> new NewTopic(t, 1, (short) 1)).toList();
    }

    public static void ensureShared(Admin admin) {
        ensure(admin, sharedTopics());
    }

    /** Creates the shared topics through a short-lived admin client. */
    public static void ensureShared(String bootstrapServers) {
        try (Admin admin = Admin.create(Map.of("bootstrap.servers", (Object) bootstrapServers))) {
            ensureShared(admin);
        }
    }

    public static void ensure(Admin admin, List<NewTopic> topics) {
        var result = admin.createTopics(topics);
        for (var entry : result.values().entrySet()) {
            try {
                entry.getValue().get(30, TimeUnit.SECONDS);
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof TopicExistsException)) {
                    throw new IllegalStateException("cannot create topic " + entry.getKey() + ": "
                            + e.getCause().getMessage(), e.getCause());
                }
            } catch (TimeoutException e) {
                throw new IllegalStateException("Kafka did not create topic " + entry.getKey() + " in time", e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while creating topics", e);
            }
        }
    }
}
