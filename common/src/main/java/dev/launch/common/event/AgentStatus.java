package dev.launch.common.event;

import java.time.Instant;
import java.util.List;

/**
 * Payload of {@code AgentStarted}, {@code AgentHeartbeat} and {@code AgentStopped} on {@code launch.agents}.
 *
 * @param agentId             the agent (also the record key)
 * @param queues              queues it serves
 * @param maxJobs             runs it runs at most at once
 * @param runs                ids of the runs it holds now
 * @param host                host name
 * @param pid                 process id
 * @param heartbeatIntervalMs how often it heartbeats; status marks it LOST after a few missed beats
 * @param startedAt           when it started
 */
public record AgentStatus(String agentId, List<String> queues, int maxJobs, List<String> runs, String host, long pid,
                          long heartbeatIntervalMs, Instant startedAt) {
}
