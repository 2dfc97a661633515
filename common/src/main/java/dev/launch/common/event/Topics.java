package dev.launch.common.event;

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

    /** The single-partition topic holding a queue's items in enqueue order. */
    public static String queue(String queueName) {
        return QUEUE_PREFIX + queueName;
    }

    /** The consumer group all agents serving a queue share, so that each item goes to exactly one of them. */
    public static String agentGroup(String queueName) {
        return "launch.agents." + queueName;
    }
}
