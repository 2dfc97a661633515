package dev.launch.common.event;

import com.fasterxml.jackson.annotation.JsonInclude;

import java.time.Instant;

/**
 * Payload of every run lifecycle fact on {@code launch.runs} ({@code RunQueued}, {@code RunClaimed} ...).
 * Which fields a type fills is fixed by its JSON Schema; all others are absent.
 *
 * @param runId       the run (also the record key)
 * @param queue       queue name
 * @param job         job name ({@code RunQueued})
 * @param jobVersion  job version ({@code RunQueued})
 * @param attempt     attempt number, from 1
 * @param agentId     the agent acting on the run (claim and after)
 * @param targetType  target type ({@code local-process} ...)
 * @param targetHandle how the target names the work (a pid, a Kubernetes Job, a training job)
 * @param exitCode    the process exit code, when there is one
 * @param stage       for {@code RunFailed}: {@code enqueue}, {@code agent}, {@code build}, {@code target} or {@code run}
 * @param reason      human-readable reason (failures, stops)
 * @param queueOffset offset of the run's item in {@code launch.queue.<queue>} ({@code RunQueued})
 * @param priority    priority level ({@code RunQueued}), when the queue enables priorities
 * @param enqueuedAt  when the queue accepted the run ({@code RunQueued})
 * @param request     the resolved run as queued: command, inputs, source, target config ({@code RunQueued};
 *                    optional, added in schema version 1 as an optional field)
 * @param itemId      the queue item the fact is about ({@code RunQueued}, {@code RunClaimed},
 *                    {@code RunReprioritized}); absent means the run id, the item written at enqueue
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record RunLifecycle(String runId, String queue, String job, Integer jobVersion, Integer attempt,
                           String agentId, String targetType, String targetHandle, Integer exitCode, String stage,
                           String reason, Long queueOffset, String priority, Instant enqueuedAt,
                           RunRequest request, String itemId) {

    public static RunLifecycle of(String runId, String queue) {
        return new RunLifecycle(runId, queue, null, null, null, null, null, null, null, null, null, null, null, null,
                null, null);
    }

    /** The {@code RunQueued} fact of a run whose item is at {@code queueOffset} in its queue's topic. */
    public static RunLifecycle queued(RunRequest r, long queueOffset) {
        return new RunLifecycle(r.runId(), r.queue(), r.job(), r.jobVersion(), r.attempt(), null, null, null, null,
                null, null, queueOffset, r.priority(), r.enqueuedAt(), r, r.item());
    }

    public RunLifecycle withAgent(String agentId, int attempt) {
        return new RunLifecycle(runId, queue, job, jobVersion, attempt, agentId, targetType, targetHandle, exitCode,
                stage, reason, queueOffset, priority, enqueuedAt, request, itemId);
    }

    public RunLifecycle withTarget(String type, String handle) {
        return new RunLifecycle(runId, queue, job, jobVersion, attempt, agentId, type, handle, exitCode, stage,
                reason, queueOffset, priority, enqueuedAt, request, itemId);
    }

    public RunLifecycle withExit(Integer exitCode) {
        return new RunLifecycle(runId, queue, job, jobVersion, attempt, agentId, targetType, targetHandle, exitCode,
                stage, reason, queueOffset, priority, enqueuedAt, request, itemId);
    }

    public RunLifecycle withFailure(String stage, String reason) {
        return new RunLifecycle(runId, queue, job, jobVersion, attempt, agentId, targetType, targetHandle, exitCode,
                stage, reason, queueOffset, priority, enqueuedAt, request, itemId);
    }

    /** For the run's item {@code itemId} (a claim names the item it took). */
    public RunLifecycle withItem(String itemId) {
        return new RunLifecycle(runId, queue, job, jobVersion, attempt, agentId, targetType, targetHandle, exitCode,
                stage, reason, queueOffset, priority, enqueuedAt, request, itemId);
    }

    /** The {@code RunReprioritized} fact: the run now waits as {@code item} at {@code queueOffset} of its level. */
    public static RunLifecycle reprioritized(RunRequest item, long queueOffset, String reason) {
        return new RunLifecycle(item.runId(), item.queue(), null, null, null, null, null, null, null, null, reason,
                queueOffset, item.priority(), null, null, item.item());
    }

    public RunLifecycle withQueueOffset(long queueOffset) {
        return new RunLifecycle(runId, queue, job, jobVersion, attempt, agentId, targetType, targetHandle, exitCode,
                stage, reason, queueOffset, priority, enqueuedAt, request, itemId);
    }

    public RunLifecycle withReason(String reason) {
        return new RunLifecycle(runId, queue, job, jobVersion, attempt, agentId, targetType, targetHandle, exitCode,
                stage, reason, queueOffset, priority, enqueuedAt, request, itemId);
    }
}
