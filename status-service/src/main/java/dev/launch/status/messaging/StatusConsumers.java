package dev.launch.status.messaging;

import dev.launch.common.event.AgentStatus;
import dev.launch.common.event.EventEnvelope;
import dev.launch.common.event.EventTypes;
import dev.launch.common.event.Events;
import dev.launch.common.event.RunLogBatch;
import dev.launch.common.event.Topics;
import dev.launch.common.run.RunStateMachine;
import dev.launch.messaging.TraceHeaders;
import dev.launch.messaging.Tracing;
import dev.launch.status.repository.AgentStore;
import dev.launch.status.repository.LogStore;
import dev.launch.status.repository.RunReadModel;
import io.micrometer.core.instrument.MeterRegistry;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanKind;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.Uni;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import io.smallrye.reactive.messaging.kafka.KafkaRecord;
import io.smallrye.reactive.messaging.kafka.KafkaRecordBatch;
import io.smallrye.reactive.messaging.kafka.api.IncomingKafkaRecordMetadata;
import org.eclipse.microprofile.reactive.messaging.Incoming;
import org.eclipse.microprofile.reactive.messaging.Message;
import org.jboss.logging.Logger;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * Builds the read model from {@code launch.runs}, {@code launch.run-logs} and {@code launch.agents}. Store,
 * then ack: a message (for {@code launch.runs}, a poll's batch of facts, applied in one transaction) is
 * acknowledged (its offset committed) only after its effect is in PostgreSQL; while the database is unreachable
 * the consumer retries the same message and goes no further. A record that breaks its type's schema is refused
 * whole (to the dead letters, with the field and why). A fact, a log batch or an agent status the database
 * refuses for its content (a poison record) goes to the dead letters alone; the rest of its batch and partition
 * is applied. A record that is not a
 * valid event is logged, counted ({@code launch_status_invalid_events_total}) and refused: the channel's
 * failure strategy sends it to {@code launch.dead-letter} with the reason in the {@code dead-letter-reason}
 * header (and its topic, partition and offset), and consumption goes on. With tracing on, applying a fact is a
 * span ({@code apply <type>}) in the trace its record's headers name: the run's trace, begun at its enqueue.
 */
@ApplicationScoped
public class StatusConsumers {
    private static final Logger LOG = Logger.getLogger(StatusConsumers.class);

    @Inject
    RunReadModel runs;
    @Inject
    LogStore logs;
    @Inject
    AgentStore agents;
    @Inject
    RunChanges changes;
    @Inject
    MeterRegistry metrics;
    @Inject
    AgentFeed feed;
    @Inject
    ReadModelProgress progress;
    @Inject
    LogProgress logProgress;
    @Inject
    Tracing tracing;

    /** The dead-letter counters exist from the start at 0, so the first dead letter shows as an increase. */
    @jakarta.annotation.PostConstruct
    void deadLetterCounters() {
        for (String topic : java.util.List.of(Topics.RUNS, Topics.RUN_LOGS, Topics.AGENTS)) {
            metrics.counter("launch_dead_letters_total", "topic", topic);
        }
    }

    /**
     * A poll's worth of facts at once (the channel is in batch mode): the valid ones are applied in one
     * transaction, in order; each invalid one is refused on its own (to the dead letters) first. The batch is
     * acknowledged once its effect is stored.
     */
    @Incoming("launch-runs")
    public Uni<Void> onRunEvents(KafkaRecordBatch<String, String> batch) {
        List<RunReadModel.Fact> facts = new ArrayList<>();
        List<KafkaRecord<String, String>> factRecords = new ArrayList<>();
        List<Span> spans = new ArrayList<>();
        Uni<Void> refused = Uni.createFrom().voidItem();
        for (KafkaRecord<String, String> record : batch) {
            String problem;
            try {
                EventEnvelope event = Events.decode(record.getPayload());
                problem = schemaProblem(event);
                if (problem == null && RunStateMachine.isLifecycleEvent(event.type())) {
                    facts.add(RunReadModel.Fact.of(event));
                    factRecords.add(record);
                    spans.add(tracing.tracer().spanBuilder("apply " + event.type()).setSpanKind(SpanKind.CONSUMER)
                            .setParent(TraceHeaders.extract(record.getHeaders()))
                            .setAttribute("messaging.system", "kafka")
                            .setAttribute("messaging.destination.name", Topics.RUNS)
                            .setAttribute("launch.run.id", event.subject())
                            .setAttribute("launch.event.type", event.type())
                            .startSpan());
                    continue;
                }
                if (problem == null) {
                    problem = event.type() + " is not a run lifecycle fact";
                }
            } catch (RuntimeException e) {
                problem = e.getMessage();
            }
            InvalidEventException invalid = invalid("launch.runs", problem);
            refused = refused.chain(() -> Uni.createFrom().completionStage(() -> record.nack(invalid)));
        }
        Uni<Void> applied = store(facts, factRecords)
                .onFailure().invoke(e -> LOG.warnf("storing %d fact(s) from launch.runs failed, retrying: %s",
                        facts.size(), e.toString()))
                .onFailure().retry().withBackOff(Duration.ofMillis(200), Duration.ofSeconds(5)).indefinitely();
        return refused.chain(() -> applied).onTermination().invoke(() -> spans.forEach(Span::end)).invoke(() -> {
            for (KafkaRecord<String, String> record : batch) {
                record.getMetadata(IncomingKafkaRecordMetadata.class)
                        .ifPresent(m -> progress.applied(m.getPartition(), m.getOffset()));
            }
        }).chain(() -> Uni.createFrom().completionStage(batch::ack));
    }

    /**
     * Applies the facts in one transaction. When the database refuses it for what is in it (a data or constraint
     * error: the same every time, unlike a lost connection), the facts are applied one at a time, in order, and
     * each one refused on its own goes to the dead letters with the database's reason; the rest are applied. So
     * one poison fact never stops its partition. Other failures fail the whole (the caller retries it).
     */
    private Uni<Void> store(List<RunReadModel.Fact> facts, List<KafkaRecord<String, String>> records) {
        return runs.applyAll(facts).invoke(changed -> changed.forEach(changes::publish)).replaceWithVoid()
                .onFailure(RunReadModel::refusedForItsContent).recoverWithUni(e -> {
                    if (facts.size() == 1) {
                        InvalidEventException invalid = invalid("launch.runs", "cannot be stored: "
                                + e.getMessage());
                        return Uni.createFrom().completionStage(() -> records.get(0).nack(invalid));
                    }
                    LOG.warnf("a batch of %d fact(s) was refused by the database (%s); applying them one by one",
                            facts.size(), e.getMessage());
                    return Multi.createFrom().range(0, facts.size()).onItem().transformToUniAndConcatenate(i ->
                            store(List.of(facts.get(i)), List.of(records.get(i)))).collect().last()
                            .replaceWithVoid();
                });
    }


    /**
     * Also tells {@link LogProgress} how far it got, so followers learn when a run's output is all stored, and
     * wakes the run's log streams.
     */
    @Incoming("launch-run-logs")
    public Uni<Void> onLogs(Message<String> message) {
        return handle("launch.run-logs", message.getPayload(), event -> logs.store(event.payloadAs(RunLogBatch.class)))
                .onItemOrFailure().transformToUni((done, failure) -> Uni.createFrom()
                        .completionStage(failure == null ? message.ack() : message.nack(failure))
                        .invoke(() -> message.getMetadata(IncomingKafkaRecordMetadata.class)
                                .ifPresent(m -> {
                                    logProgress.applied(m.getPartition(), m.getOffset());
                                    // after the progress, so a follower woken by the last batch sees it complete
                                    if (m.getKey() instanceof String runId) {
                                        changes.logsStored(runId);
                                    }
                                })));
    }

    /** Also tells {@link AgentFeed} how far it got, so agents are judged lost only on heartbeats read. */
    @Incoming("launch-agents")
    public Uni<Void> onAgent(Message<String> message) {
        return handle("launch.agents", message.getPayload(), event -> agents.record(
                        event.payloadAs(AgentStatus.class), event.occurredAt(),
                        EventTypes.AGENT_STOPPED.equals(event.type())))
                .onItemOrFailure().transformToUni((done, failure) -> {
                    message.getMetadata(IncomingKafkaRecordMetadata.class)
                            .ifPresent(m -> feed.handled(m.getPartition(), m.getOffset()));
                    return Uni.createFrom().completionStage(failure == null ? message.ack() : message.nack(failure));
                });
    }

    private Uni<Void> handle(String topic, String value, Function<EventEnvelope, Uni<Void>> effect) {
        EventEnvelope event;
        try {
            event = Events.decode(value);
        } catch (Events.UndecodableEventException e) {
            return skip(topic, e.getMessage());
        }
        String problem = schemaProblem(event);
        if (problem != null) {
            return skip(topic, problem);
        }
        Uni<Void> applied;
        try {
            applied = effect.apply(event);
        } catch (RuntimeException e) {
            return skip(topic, e.getMessage());
        }
        return applied.onFailure(e -> !RunReadModel.refusedForItsContent(e))
                .invoke(e -> LOG.warnf("storing %s %s failed, retrying: %s", event.type(), event.subject(),
                        e.toString()))
                .onFailure(e -> !RunReadModel.refusedForItsContent(e))
                .retry().withBackOff(Duration.ofMillis(200), Duration.ofSeconds(5)).indefinitely()
                // refused for what it holds: the same every time, so it goes to the dead letters and the rest of
                // its partition is stored
                .onFailure(RunReadModel::refusedForItsContent)
                .transform(e -> invalid(topic, "cannot be stored: " + e.getMessage()));
    }

    /**
     * Why {@code event} breaks its type's schema (the contract in {@code common/src/main/resources/schemas/events}),
     * or null: a record that decodes but breaks it (a required field missing, a value out of its range) is refused
     * whole, so nothing of it is applied (before, a claim by agent "" was stored, and a log batch without lines
     * failed half-way). About 5 µs an event.
     */
    static String schemaProblem(EventEnvelope event) {
        List<dev.launch.common.problem.Problem.FieldError> errors;
        try {
            errors = dev.launch.common.event.EventSchemas.validate(event);
        } catch (RuntimeException e) {
            return "cannot be checked against the " + event.type() + " schema: " + e.getMessage();
        }
        if (errors.isEmpty()) {
            return null;
        }
        var first = errors.get(0);
        return "breaks the " + event.type() + " schema: " + (first.field().isEmpty() ? "" : first.field() + ": ")
                + first.message() + (errors.size() > 1 ? " (and " + (errors.size() - 1) + " more)" : "");
    }

    private Uni<Void> skip(String topic, String reason) {
        return Uni.createFrom().failure(invalid(topic, reason));
    }

    private InvalidEventException invalid(String topic, String reason) {
        LOG.errorf("an invalid record on %s goes to %s: %s", topic, Topics.DEAD_LETTER, reason);
        metrics.counter("launch_dead_letters_total", "topic", topic).increment();
        return new InvalidEventException(reason);
    }

    /** A record that is not a valid event; its message is the dead letter's reason. */
    static final class InvalidEventException extends RuntimeException {
        InvalidEventException(String reason) {
            super(reason, null, false, false);
        }
    }
}
