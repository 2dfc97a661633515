package dev.launch.bench;

import dev.launch.common.event.EventEnvelope;
import dev.launch.common.event.EventTypes;
import dev.launch.common.event.Events;
import dev.launch.common.event.Topics;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;

import java.time.Duration;
import java.time.Instant;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Reads {@code launch.runs} from its end as the runs go, and keeps when each run was claimed, running and
 * ended, by the time the agent wrote on the fact ({@code occurredAt}; same machine, same clock as the client).
 */
final class RunEvents implements AutoCloseable {

    /** Microseconds since the epoch of a run's milestones; 0 until seen. */
    static final class Times {
        volatile long claimed;
        volatile long running;
        volatile long ended;
        volatile String endState;
        /** the item's offset in its queue (from RunQueued): the queue's order; -1 until seen */
        volatile long queueOffset = -1;
        /** the agent that reported it RUNNING */
        volatile String agent;
    }

    private final KafkaConsumer<String, String> consumer;
    private final Map<String, Times> runs = new ConcurrentHashMap<>();
    private final Thread thread;
    private volatile boolean running = true;

    RunEvents(String bootstrap) {
        consumer = new KafkaConsumer<>(Map.of(
                ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap,
                ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed",
                ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false,
                // the times are the facts' own, so reading them late changes no figure; fetching in bulk keeps
                // this observer from loading the broker the stack is measured on
                ConsumerConfig.FETCH_MIN_BYTES_CONFIG, 256 * 1024,
                ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 100,
                ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class,
                ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class));
        List<TopicPartition> partitions = consumer.partitionsFor(Topics.RUNS).stream()
                .map(p -> new TopicPartition(p.topic(), p.partition())).toList();
        consumer.assign(partitions);
        consumer.seekToEnd(partitions);
        partitions.forEach(consumer::position); // resolve the end now: only runs from here on are watched
        thread = new Thread(this::loop, "run-events");
        thread.setDaemon(true);
        thread.start();
    }

    private void loop() {
        try {
            while (running) {
                for (ConsumerRecord<String, String> record : consumer.poll(Duration.ofMillis(100))) {
                    apply(record.value());
                }
            }
        } catch (org.apache.kafka.common.errors.WakeupException e) {
            // closing
        } finally {
            consumer.close(Duration.ofSeconds(2));
        }
    }

    private void apply(String value) {
        EventEnvelope event;
        try {
            event = Events.decode(value);
        } catch (RuntimeException e) {
            return;
        }
        long at = micros(event.occurredAt());
        Times t = runs.computeIfAbsent(event.subject(), id -> new Times());
        switch (event.type()) {
            case EventTypes.RUN_CLAIMED -> {
                if (t.claimed == 0) {
                    t.claimed = at;
                }
            }
            case EventTypes.RUN_RUNNING -> {
                if (t.running == 0) {
                    t.running = at;
                    t.agent = event.payload().path("agentId").asText(null);
                }
            }
            case EventTypes.RUN_QUEUED -> {
                if (t.queueOffset < 0 && event.payload().hasNonNull("queueOffset")) {
                    t.queueOffset = event.payload().path("queueOffset").asLong();
                }
            }
            case EventTypes.RUN_FINISHED, EventTypes.RUN_FAILED, EventTypes.RUN_STOPPED -> {
                if (t.ended == 0) {
                    t.endState = event.type();
                    t.ended = at;
                }
            }
            default -> {
            }
        }
    }

    static long micros(Instant at) {
        return at.getEpochSecond() * 1_000_000L + at.getNano() / 1000;
    }

    Times of(String runId) {
        return runs.getOrDefault(runId, new Times());
    }

    /** How many of {@code runIds} have ended. */
    long ended(Collection<String> runIds) {
        return runIds.stream().filter(id -> of(id).ended != 0).count();
    }

    /** How many of {@code runIds} have been claimed. */
    long claimed(Collection<String> runIds) {
        return runIds.stream().filter(id -> of(id).claimed != 0).count();
    }

    /** Waits until every run of {@code runIds} has ended; false if {@code atMost} passed first. */
    boolean awaitEnded(Collection<String> runIds, Duration atMost) throws InterruptedException {
        return await(() -> ended(runIds) == runIds.size(), atMost);
    }

    static boolean await(java.util.function.BooleanSupplier condition, Duration atMost) throws InterruptedException {
        long deadline = System.nanoTime() + atMost.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                return false;
            }
            Thread.sleep(50);
        }
        return true;
    }

    @Override
    public void close() {
        running = false;
        consumer.wakeup();
    }
}
