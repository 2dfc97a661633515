package dev.launch.agent.messaging;

import dev.launch.common.event.EventEnvelope;
import dev.launch.common.event.Events;
import dev.launch.common.event.RunLifecycle;
import dev.launch.common.event.RunLogBatch;
import dev.launch.common.event.EventTypes;
import dev.launch.common.event.Topics;
import dev.launch.messaging.TraceHeaders;
import io.quarkus.runtime.ShutdownEvent;
import jakarta.annotation.PostConstruct;
import jakarta.annotation.Priority;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.StringSerializer;
import org.eclipse.microprofile.config.inject.ConfigProperty;

import org.apache.kafka.clients.consumer.ConsumerRecord;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

/**
 * The agent's one producer: run facts, log batches and heartbeats; acks=all, idempotent. A run's facts and the
 * commands the agent writes about it carry the run's trace in their headers ({@link RunTraces}).
 */
@ApplicationScoped
public class EventPublisher {
    /** the facts after which the agent is done with a run */
    private static final Set<String> ENDS = Set.of(EventTypes.RUN_FINISHED, EventTypes.RUN_FAILED,
            EventTypes.RUN_STOPPED, EventTypes.RUN_PREEMPTED);

    @ConfigProperty(name = "kafka.bootstrap.servers")
    String bootstrap;
    @Inject
    RunTraces traces;

    private KafkaProducer<String, String> producer;

    @PostConstruct
    void init() {
        producer = new KafkaProducer<>(Map.of(
                ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap,
                ProducerConfig.ACKS_CONFIG, "all",
                ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true,
                ProducerConfig.LINGER_MS_CONFIG, 1,
                ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 120_000,
                // a send waits this long for metadata when the broker is away, not the default minute
                ProducerConfig.MAX_BLOCK_MS_CONFIG, 5_000,
                ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class,
                ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class));
    }

    /** Publishes a run fact keyed by run id; completes when the broker acknowledged it. */
    public CompletableFuture<RecordMetadata> run(String type, RunLifecycle fact) {
        CompletableFuture<RecordMetadata> sent = send(Topics.RUNS, fact.runId(), EventEnvelope.of(type, fact.runId(),
                fact));
        if (ENDS.contains(type)) {
            traces.forget(fact.runId());
        }
        return sent;
    }

    public CompletableFuture<RecordMetadata> logs(RunLogBatch batch) {
        return send(Topics.RUN_LOGS, batch.runId(),
                EventEnvelope.of(dev.launch.common.event.EventTypes.RUN_OUTPUT_LOGGED, batch.runId(), batch));
    }

    public CompletableFuture<RecordMetadata> agent(String type, String agentId, Object status) {
        return send(Topics.AGENTS, agentId, EventEnvelope.of(type, agentId, status));
    }

    /**
     * Sends a record this agent cannot use to {@code launch.dead-letter}, as it was, with the reason and where it
     * came from in headers ({@code dead-letter-reason}, {@code -topic}, {@code -partition}, {@code -offset}).
     */
    public CompletableFuture<RecordMetadata> deadLetter(ConsumerRecord<String, String> record, String reason) {
        ProducerRecord<String, String> dead = new ProducerRecord<>(Topics.DEAD_LETTER, record.key(), record.value());
        dead.headers().add("dead-letter-reason", reason.getBytes(StandardCharsets.UTF_8))
                .add("dead-letter-topic", record.topic().getBytes(StandardCharsets.UTF_8))
                .add("dead-letter-partition", String.valueOf(record.partition()).getBytes(StandardCharsets.UTF_8))
                .add("dead-letter-offset", String.valueOf(record.offset()).getBytes(StandardCharsets.UTF_8));
        return send(dead);
    }

    /** A record keyed by a run's id carries the run's trace. */
    public CompletableFuture<RecordMetadata> send(String topic, String key, EventEnvelope envelope) {
        ProducerRecord<String, String> record = new ProducerRecord<>(topic, key, Events.encode(envelope));
        if (!Topics.AGENTS.equals(topic)) {
            TraceHeaders.inject(traces.of(key), record.headers());
        }
        return send(record);
    }

    private CompletableFuture<RecordMetadata> send(ProducerRecord<String, String> record) {
        CompletableFuture<RecordMetadata> done = new CompletableFuture<>();
        try {
            producer.send(record, (metadata, error) -> {
                if (error != null) {
                    done.completeExceptionally(error);
                } else {
                    done.complete(metadata);
                }
            });
        } catch (RuntimeException e) {
            done.completeExceptionally(e);
        }
        return done;
    }

    /** Closed last, after the supervisor has reported how its runs ended. */
    void close(@Observes @Priority(Integer.MAX_VALUE) ShutdownEvent event) {
        producer.close(Duration.ofSeconds(5));
    }
}
