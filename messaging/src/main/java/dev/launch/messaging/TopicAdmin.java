package dev.launch.messaging;

import dev.launch.common.event.Topics;

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

    /**
     * Kept until consumed, whatever the broker's default retention (7 days unless changed): a queue's items (a
     * 202 is durable however long the run waits), the run facts (the read model is rebuilt from them), the
     * commands (the take and launch records adoption and the ledgers decide by) and the dead letters (an
     * operator's to read).
     */
    public static final Map<String, String> KEEP = Map.of("retention.ms", "-1", "retention.bytes", "-1");

    public static List<NewTopic> sharedTopics() {
        Map<String, String> compact = Map.of("cleanup.policy", "compact");
        return List.of(
                new NewTopic(Topics.JOBS, 1, (short) 1).configs(compact),
                new NewTopic(Topics.QUEUES, 1, (short) 1).configs(compact),
                new NewTopic(Topics.RUNS, RUN_PARTITIONS, (short) 1).configs(KEEP),
                new NewTopic(Topics.RUN_COMMANDS, RUN_PARTITIONS, (short) 1).configs(KEEP),
                // logs are kept in PostgreSQL; heartbeats matter for seconds: the broker's default retention
                new NewTopic(Topics.RUN_LOGS, RUN_PARTITIONS, (short) 1),
                new NewTopic(Topics.AGENTS, 3, (short) 1),
                new NewTopic(Topics.DEAD_LETTER, 1, (short) 1).configs(KEEP));
    }

    /**
     * The single-partition topics of a queue (one, or one per priority level): one partition is what keeps
     * a queue, or a level, in order.
     */
    public static List<NewTopic> queueTopics(String queue, boolean prioritized) {
        return Topics.queueTopics(queue, prioritized).stream().map(t -> new NewTopic(t, 1, (short) 1).configs(KEEP))
                .toList();
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

    /**
     * Creates the topics; one that exists already gets its configs set (a topic made by an earlier version, or by
     * hand, is then kept as long as a new one).
     */
    public static void ensure(Admin admin, List<NewTopic> topics) {
        var result = admin.createTopics(topics);
        Map<String, NewTopic> byName = new java.util.HashMap<>();
        topics.forEach(t -> byName.put(t.name(), t));
        List<NewTopic> existing = new java.util.ArrayList<>();
        for (var entry : result.values().entrySet()) {
            try {
                entry.getValue().get(30, TimeUnit.SECONDS);
            } catch (ExecutionException e) {
                if (e.getCause() instanceof TopicExistsException) {
                    existing.add(byName.get(entry.getKey()));
                } else {
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
        setConfigs(admin, existing);
    }

    /** Sets the configs of topics that existed already, in one request. */
    private static void setConfigs(Admin admin, List<NewTopic> topics) {
        Map<org.apache.kafka.common.config.ConfigResource, java.util.Collection<org.apache.kafka.clients.admin.AlterConfigOp>>
                changes = new java.util.HashMap<>();
        for (NewTopic topic : topics) {
            if (topic.configs() == null || topic.configs().isEmpty()) {
                continue;
            }
            changes.put(new org.apache.kafka.common.config.ConfigResource(
                    org.apache.kafka.common.config.ConfigResource.Type.TOPIC, topic.name()),
                    topic.configs().entrySet().stream().map(c -> new org.apache.kafka.clients.admin.AlterConfigOp(
                            new org.apache.kafka.clients.admin.ConfigEntry(c.getKey(), c.getValue()),
                            org.apache.kafka.clients.admin.AlterConfigOp.OpType.SET)).toList());
        }
        if (changes.isEmpty()) {
            return;
        }
        try {
            admin.incrementalAlterConfigs(changes).all().get(30, TimeUnit.SECONDS);
        } catch (ExecutionException | TimeoutException e) {
            throw new IllegalStateException("cannot set the configs of topics " + changes.keySet() + ": "
                    + (e.getCause() == null ? e : e.getCause()).getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while setting the configs of topics", e);
        }
    }
}
