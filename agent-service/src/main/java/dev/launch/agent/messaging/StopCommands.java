package dev.launch.agent.messaging;

import dev.launch.common.event.EventEnvelope;
import dev.launch.common.event.EventTypes;
import dev.launch.common.event.Events;
import dev.launch.common.event.StopRun;
import dev.launch.common.event.Topics;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.jboss.logging.Logger;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.function.Consumer;

/**
 * Reads every {@code StopRun} on {@code launch.run-commands} (all partitions, from the beginning) so the
 * agent knows which runs were stopped, including runs still waiting in a queue.
 *
 * <p>{@link #fence()} closes the race between a stop and a claim: it completes once this reader has caught
 * up with everything written to the topic before the call. The end offsets are read on a connection of their
 * own (an admin client): on the reader's connection they would queue behind its long-polling fetch. An agent claims a run, then fences, then checks
 * {@link #stopRequested}: a stop acknowledged before the claim is always seen, and a stop after it reaches
 * the running run through {@code onStop}. See the agent-service DESIGN.md.
 */
public class StopCommands implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(StopCommands.class);
    private static final int REMEMBERED = 100_000;

    private final KafkaConsumer<String, String> consumer;
    private final Consumer<StopRun> onStop;
    private final ConcurrentLinkedQueue<Fence> fences = new ConcurrentLinkedQueue<>();
    private final Admin admin;

    /** Completes {@code done} once the reader's positions reach {@code ends}. */
    private record Fence(Map<TopicPartition, Long> ends, CompletableFuture<Void> done) {
    }
    private final Map<String, StopRun> stopped = Collections.synchronizedMap(new LinkedHashMap<>(1024, 0.75f, false) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, StopRun> eldest) {
            return size() > REMEMBERED;
        }
    });
    private final Thread thread;
    private volatile boolean running = true;
    private volatile List<TopicPartition> partitions;

    public StopCommands(String bootstrap, String agentId, Consumer<StopRun> onStop) {
        this.onStop = onStop;
        this.consumer = new KafkaConsumer<>(Map.of(
                ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap,
                ConsumerConfig.CLIENT_ID_CONFIG, agentId + "-commands",
                ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false,
                ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class,
                ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class));
        this.admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap,
                AdminClientConfig.CLIENT_ID_CONFIG, agentId + "-commands-ends"));
        this.thread = new Thread(this::loop, "stop-commands");
        this.thread.setDaemon(true);
    }

    public void start() {
        thread.start();
    }

    /** The stop command for {@code runId}, or null. */
    public StopRun stopRequested(String runId) {
        return stopped.get(runId);
    }

    /** Completes once every command written before this call has been read. */
    public CompletableFuture<Void> fence() {
        CompletableFuture<Void> done = new CompletableFuture<>();
        List<TopicPartition> known = partitions;
        if (known == null) {
            done.completeExceptionally(new IllegalStateException("the stop-command reader has not started yet"));
            return done;
        }
        Map<TopicPartition, OffsetSpec> latest = new java.util.HashMap<>();
        known.forEach(p -> latest.put(p, OffsetSpec.latest()));
        admin.listOffsets(latest).all().whenComplete((offsets, error) -> {
            if (error != null) {
                done.completeExceptionally(error);
                return;
            }
            Map<TopicPartition, Long> ends = new java.util.HashMap<>();
            offsets.forEach((p, info) -> ends.put(p, info.offset()));
            fences.add(new Fence(ends, done));
            consumer.wakeup(); // do not wait out an idle poll
        });
        return done;
    }

    private void loop() {
        try {
            List<PartitionInfo> infos = consumer.partitionsFor(Topics.RUN_COMMANDS, Duration.ofSeconds(60));
            List<TopicPartition> all = new ArrayList<>();
            infos.forEach(info -> all.add(new TopicPartition(info.topic(), info.partition())));
            consumer.assign(all);
            consumer.seekToBeginning(all);
            partitions = List.copyOf(all);
            while (running) {
                for (ConsumerRecord<String, String> record : poll(fences.isEmpty() ? 200 : 5)) {
                    apply(record);
                }
                fences.removeIf(fence -> {
                    if (caughtUp(fence.ends())) {
                        fence.done().complete(null);
                        return true;
                    }
                    return false;
                });
            }
        } catch (org.apache.kafka.common.errors.WakeupException e) {
            // closing
        } catch (RuntimeException e) {
            LOG.error("the stop-command reader failed; stops will not reach this agent", e);
            Fence f;
            while ((f = fences.poll()) != null) {
                f.done().completeExceptionally(e);
            }
        } finally {
            consumer.close(Duration.ofSeconds(2));
            admin.close(Duration.ofSeconds(2));
        }
    }

    /** A poll that a {@link #fence()} may cut short (a wakeup with no fence waiting means we are closing). */
    private Iterable<ConsumerRecord<String, String>> poll(long millis) {
        try {
            return consumer.poll(Duration.ofMillis(millis));
        } catch (org.apache.kafka.common.errors.WakeupException e) {
            if (!running) {
                throw e;
            }
            return List.of();
        }
    }

    private boolean caughtUp(Map<TopicPartition, Long> ends) {
        try {
            for (Map.Entry<TopicPartition, Long> end : ends.entrySet()) {
                if (consumer.position(end.getKey()) < end.getValue()) {
                    return false;
                }
            }
            return true;
        } catch (org.apache.kafka.common.errors.WakeupException e) {
            if (!running) {
                throw e;
            }
            return false;
        }
    }

    private void apply(ConsumerRecord<String, String> record) {
        try {
            EventEnvelope envelope = Events.decode(record.value());
            if (EventTypes.STOP_RUN.equals(envelope.type())) {
                StopRun stop = envelope.payloadAs(StopRun.class);
                if (stopped.putIfAbsent(stop.runId(), stop) == null) {
                    onStop.accept(stop);
                }
            }
        } catch (RuntimeException e) {
            LOG.warnf("ignoring unreadable command at %s-%d@%d: %s", record.topic(), record.partition(),
                    record.offset(), e.getMessage());
        }
    }

    @Override
    public void close() {
        running = false;
        consumer.wakeup();
        try {
            thread.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
