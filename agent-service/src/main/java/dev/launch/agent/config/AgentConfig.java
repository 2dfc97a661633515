package dev.launch.agent.config;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithName;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

/** {@code launch.agent.*}: what this agent serves and how it runs work. */
@ConfigMapping(prefix = "launch.agent")
public interface AgentConfig {
    /** Queues served. */
    List<String> queues();

    /** Runs at most this many at once. */
    @WithName("max-jobs")
    int maxJobs();

    /** Agent id; defaults to {@code agent-<host>-<pid>}. */
    Optional<String> id();

    /** Root of the runs' workspaces. */
    Path workspace();

    /** Time between SIGTERM and SIGKILL when stopping a run. */
    @WithName("stop-grace")
    Duration stopGrace();

    /**
     * On SIGTERM: how long the runs the agent holds may go on to finish by themselves (the agent has left its
     * queues and takes nothing new); what still runs after that is stopped and FAILED in stage {@code agent}.
     */
    Duration drain();

    /** Fault injection for failover tests (see {@code CrashPoints}); empty in production. */
    @WithName("crash-points")
    Optional<String> crashPoints();

    /**
     * The Kafka consumer session timeout of the agent's queue consumers: how long a queue held by an agent that
     * died waits before the broker hands it to another agent (the broker's minimum is 6 s by default).
     */
    @WithName("session-timeout")
    Duration sessionTimeout();

    @WithName("heartbeat-interval")
    Duration heartbeatInterval();

    @WithName("log-batch-lines")
    int logBatchLines();

    @WithName("log-flush-interval")
    Duration logFlushInterval();
}
