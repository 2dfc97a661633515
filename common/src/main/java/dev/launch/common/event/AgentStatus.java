package dev.launch.common.event;

import com.fasterxml.jackson.annotation.JsonInclude;

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
 * @param startedAt           when it started (its incarnation: hand-offs name it)
 * @param freeSlots           slots free for new runs: max-jobs less the runs held and the hand-offs read that do
 *                            not hold a slot yet; null from agents that do not share by hand-offs (ADR 0005)
 * @param handoffsRead        the runs most recently handed to this agent that it has read (at most 32): a
 *                            holder counts a hand-off against {@code freeSlots} until it is listed here
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record AgentStatus(String agentId, List<String> queues, int maxJobs, List<String> runs, String host, long pid,
                          long heartbeatIntervalMs, Instant startedAt, Integer freeSlots, List<String> handoffsRead) {

    /** A status that says nothing about free slots. */
    public AgentStatus(String agentId, List<String> queues, int maxJobs, List<String> runs, String host, long pid,
                       long heartbeatIntervalMs, Instant startedAt) {
        this(agentId, queues, maxJobs, runs, host, pid, heartbeatIntervalMs, startedAt, null, null);
    }
}
