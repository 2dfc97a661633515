package dev.launch.common.event;

import dev.launch.common.run.Priority;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * Kafka topic names of the public event contract (design §3).
 * Channel names in each service's {@code application.properties} use the same names with '-' for '.'.
 */
public final class Topics {
    /** Job versions created; key = job name; compacted. */
    public static final String JOBS = "launch.jobs";
    /** Queue created / updated / deleted; key = queue name; compacted. */
    public static final String QUEUES = "launch.queues";
    /** Run lifecycle facts; key = run id. */
    public static final String RUNS = "launch.runs";
    /** Commands to agents (stop); key = run id. */
    public static final String RUN_COMMANDS = "launch.run-commands";
    /** Batches of a run's output lines; key = run id. */
    public static final String RUN_LOGS = "launch.run-logs";
    /** Agent started / heartbeat / stopped; key = agent id. */
    public static final String AGENTS = "launch.agents";
    /** Events no consumer could decode or apply, with the reason in headers. */
    public static final String DEAD_LETTER = "launch.dead-letter";

    private static final String QUEUE_PREFIX = "launch.queue.";

    private Topics() {
    }

    /** The single-partition topic holding the items of a queue without priorities, in enqueue order. */
    public static String queue(String queueName) {
        return QUEUE_PREFIX + queueName;
    }

    /**
     * The single-partition topic holding one priority level of a queue with priorities:
     * {@code launch.queue.<name>.CRITICAL} ... {@code .LOW}. Queue names are lower case, so the upper-case
     * suffix never collides with another queue's topic (ADR 0001).
     */
    public static String queueLevel(String queueName, Priority level) {
        return QUEUE_PREFIX + queueName + "." + level.name();
    }

    /** The topic an item of {@code queueName} at {@code level} goes to ({@code level} null: no priorities). */
    public static String queueItems(String queueName, Priority level) {
        return level == null ? queue(queueName) : queueLevel(queueName, level);
    }

    /** A queue's topics, highest level first: one topic, or one per level when it enables priorities. */
    public static List<String> queueTopics(String queueName, boolean prioritized) {
        if (!prioritized) {
            return List.of(queue(queueName));
        }
        List<String> topics = new ArrayList<>();
        for (Priority level : Priority.values()) {
            topics.add(queueLevel(queueName, level));
        }
        return topics;
    }

    /** Matches every topic {@link #queueTopics} may give for {@code queueName}, with or without priorities. */
    public static Pattern queueTopicPattern(String queueName) {
        return Pattern.compile(Pattern.quote(queue(queueName)) + "(\\.(CRITICAL|HIGH|MEDIUM|LOW))?");
    }

    /** The level a queue topic holds, or null for the topic of a queue without priorities. */
    public static Priority levelOf(String queueTopic) {
        int dot = queueTopic.lastIndexOf('.');
        String suffix = queueTopic.substring(dot + 1);
        for (Priority level : Priority.values()) {
            if (level.name().equals(suffix)) {
                return level;
            }
        }
        return null;
    }

    /** The consumer group all agents serving a queue share, so that each item goes to exactly one of them. */
    public static String agentGroup(String queueName) {
        return "launch.agents." + queueName;
    }
}
