package dev.launch.common.event;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.launch.common.job.JobSource;

import java.time.Instant;
import java.util.List;

/**
 * Payload of {@code RunRequested}, the item on {@code launch.queue.<name>}: everything an agent needs to
 * launch the run, resolved and validated at enqueue, so an agent never asks another service.
 *
 * @param runId          the run's id (also the record key)
 * @param queue          queue name
 * @param job            job name
 * @param jobVersion     job version
 * @param jobDigest      the version's digest
 * @param source         where the code comes from (git commit and code snapshot resolved)
 * @param command        argv to execute: entrypoint (the run's override or the job's) followed by the args
 * @param inputs         resolved inputs: job defaults overlaid by the run's inputs
 * @param target         {@code {type, ...}} of the queue, with its resolved config under {@code config}
 * @param attempt        1 for the first attempt
 * @param maxAttempts    the queue's limit at enqueue time
 * @param priority       priority level, when the queue enables priorities
 * @param enqueuedAt     when the queue accepted the run
 * @param itemId         this item's id: the run id for the item written at enqueue, a new id for the item a
 *                       reprioritization writes ({@code MoveRun}); absent means the run id
 * @param startTimeout   ISO-8601 duration the run may stay STARTING (the queue's at enqueue), or null for none
 * @param traceParent    the W3C {@code traceparent} of the run's enqueue, or null (tracing off): whoever works on
 *                       the run (an agent taking, handed, adopting or retrying it) goes on with that trace
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record RunRequest(String runId, String queue, String job, int jobVersion, String jobDigest,
                         JobSource source, List<String> command, ObjectNode inputs, ObjectNode target,
                         int attempt, int maxAttempts, String priority, Instant enqueuedAt, String itemId,
                         String startTimeout, String traceParent) {

    /** A request without a trace. */
    public RunRequest(String runId, String queue, String job, int jobVersion, String jobDigest, JobSource source,
                      List<String> command, ObjectNode inputs, ObjectNode target, int attempt, int maxAttempts,
                      String priority, Instant enqueuedAt, String itemId, String startTimeout) {
        this(runId, queue, job, jobVersion, jobDigest, source, command, inputs, target, attempt, maxAttempts,
                priority, enqueuedAt, itemId, startTimeout, null);
    }

    /** A request without a start timeout or a trace. */
    public RunRequest(String runId, String queue, String job, int jobVersion, String jobDigest, JobSource source,
                      List<String> command, ObjectNode inputs, ObjectNode target, int attempt, int maxAttempts,
                      String priority, Instant enqueuedAt, String itemId) {
        this(runId, queue, job, jobVersion, jobDigest, source, command, inputs, target, attempt, maxAttempts,
                priority, enqueuedAt, itemId, null, null);
    }

    /** The item id (the run id when the record names none). */
    public String item() {
        return itemId == null ? runId : itemId;
    }

    /** The same run as another item, at {@code priority}: what a reprioritization queues. */
    public RunRequest movedTo(String newPriority, String newItemId) {
        return new RunRequest(runId, queue, job, jobVersion, jobDigest, source, command, inputs, target, attempt,
                maxAttempts, newPriority, enqueuedAt, newItemId, startTimeout, traceParent);
    }

    /** The same item as attempt {@code n}. */
    public RunRequest withAttempt(int n) {
        return new RunRequest(runId, queue, job, jobVersion, jobDigest, source, command, inputs, target, n,
                maxAttempts, priority, enqueuedAt, itemId, startTimeout, traceParent);
    }

    /** The same request in the trace {@code parent} names (a W3C {@code traceparent}). */
    public RunRequest withTraceParent(String parent) {
        return new RunRequest(runId, queue, job, jobVersion, jobDigest, source, command, inputs, target, attempt,
                maxAttempts, priority, enqueuedAt, itemId, startTimeout, parent);
    }

    /** {@code name:version}, as {@code LAUNCH_JOB} shows it. */
    public String jobRef() {
        return job + ":" + jobVersion;
    }
}
