package dev.launch.status.messaging;

import dev.launch.common.event.EventEnvelope;
import dev.launch.common.event.EventTypes;
import dev.launch.common.event.Events;
import dev.launch.common.event.RunLifecycle;
import dev.launch.common.event.StopRun;
import io.smallrye.mutiny.Uni;
import io.smallrye.reactive.messaging.MutinyEmitter;
import io.smallrye.reactive.messaging.kafka.api.OutgoingKafkaRecordMetadata;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.eclipse.microprofile.reactive.messaging.Channel;
import org.eclipse.microprofile.reactive.messaging.Message;

/**
 * A stop is two records, in this order: the {@code StopRun} command agents act on, then the
 * {@code RunStopRequested} fact the read model applies. Agents claim a run, then catch up with the commands
 * before launching it, so a run whose stop was recorded while it was QUEUED is never launched.
 */
@ApplicationScoped
public class StopPublisher {
    @Inject
    @Channel("launch-run-commands")
    MutinyEmitter<String> commands;
    @Inject
    @Channel("launch-runs-requests")
    MutinyEmitter<String> runs;

    public Uni<Void> stop(String runId, String queue, String reason) {
        StopRun command = new StopRun(runId, queue, reason, "api");
        RunLifecycle fact = RunLifecycle.of(runId, queue).withReason(reason);
        return send(commands, runId, EventEnvelope.of(EventTypes.STOP_RUN, runId, command))
                .chain(() -> send(runs, runId, EventEnvelope.of(EventTypes.RUN_STOP_REQUESTED, runId, fact)));
    }

    /**
     * Ends a run whose agent was lost: {@code StopRun} (an agent that comes back stops its process), then
     * {@code RunFailed} with {@code stage} and {@code reason}.
     */
    public Uni<Void> failLost(String runId, String queue, String agentId, int attempt, String stage,
                              String reason) {
        StopRun command = new StopRun(runId, queue, reason, "status-service");
        RunLifecycle fact = RunLifecycle.of(runId, queue).withAgent(agentId, attempt).withFailure(stage, reason);
        return send(commands, runId, EventEnvelope.of(EventTypes.STOP_RUN, runId, command))
                .chain(() -> send(runs, runId, EventEnvelope.of(EventTypes.RUN_FAILED, runId, fact)));
    }

    /** Ends a run FAILED that no agent holds any longer (a preempted run with no attempts left). */
    public Uni<Void> fail(String runId, String queue, String agentId, int attempt, String stage, String reason) {
        RunLifecycle fact = RunLifecycle.of(runId, queue).withAgent(agentId, attempt).withFailure(stage, reason);
        return send(runs, runId, EventEnvelope.of(EventTypes.RUN_FAILED, runId, fact));
    }

    /**
     * Asks the agents of the run's queue to take over its work ({@code AdoptRun} on the run's command partition;
     * the first {@code RunAdopted} after it wins, see ADR 0002).
     */
    public Uni<Void> adopt(dev.launch.common.event.AdoptRun adopt) {
        return send(commands, adopt.runId(), EventEnvelope.of(EventTypes.ADOPT_RUN, adopt.runId(), adopt));
    }

    private static Uni<Void> send(MutinyEmitter<String> emitter, String key, EventEnvelope envelope) {
        return emitter.sendMessage(Message.of(Events.encode(envelope))
                .addMetadata(OutgoingKafkaRecordMetadata.<String>builder().withKey(key).build()));
    }
}
