package dev.launch.messaging;

import dev.launch.common.event.EventEnvelope;
import dev.launch.common.event.EventTypes;
import dev.launch.common.event.Events;
import dev.launch.common.event.MoveRun;
import dev.launch.common.event.StopRun;
import dev.launch.common.event.Topics;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.jboss.logging.Logger;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.function.Consumer;

/**
 * Reads every record of {@code launch.run-commands} (all partitions, from the beginning) into a
 * {@link RunCommandLedger}: the stops, the takes of queue items by agents, and the moves of queued runs.
 *
 * <p>{@link #fence} completes once this reader has read past a given record, so a caller that wrote a record
 * and waited for its acknowledgement reads the ledger with that record and everything before it in the run's
 * partition applied. The reader uses {@code read_committed}: a move is written in a transaction with its new
 * queue item and counts only once committed. See the agent-service DESIGN.md.
 */
public class RunCommandsReader implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(RunCommandsReader.class);
    private static final int REMEMBERED = 200_000;

    private final KafkaConsumer<String, String> consumer;
    private final Consumer<StopRun> onStop;
    private volatile Consumer<MoveRun> onRetry = retry -> { };
    private volatile Consumer<dev.launch.common.event.AdoptRun> onAdopt = adopt -> { };
    private volatile Consumer<dev.launch.common.event.RunTaken> onLaunch = launch -> { };
    private volatile Consumer<dev.launch.common.event.RunTaken> onHandOff = take -> { };
    /** the ends of the partitions when the reader started; adoptions are offered once they are reached */
    private Map<TopicPartition, Long> startEnds;
    private volatile boolean caughtUp;
    private final ConcurrentLinkedQueue<Fence> fences = new ConcurrentLinkedQueue<>();
    private final RunCommandLedger ledger = new RunCommandLedger(REMEMBERED);

    /** Completes {@code done} once the reader's positions reach {@code ends}. */
    private record Fence(Map<TopicPartition, Long> ends, CompletableFuture<Void> done) {
    }
    private final Thread thread;
    private volatile boolean running = true;
    private volatile List<TopicPartition> partitions;

    /**
     * @param clientId names this reader's connections in the broker's view
     * @param onStop   called once per run, on the reader's thread, with the first stop seen for it
     */
    public RunCommandsReader(String bootstrap, String clientId, Consumer<StopRun> onStop) {
        this.onStop = onStop;
        this.consumer = new KafkaConsumer<>(Map.of(
                ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap,
                ConsumerConfig.CLIENT_ID_CONFIG, clientId + "-commands",
                ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false,
                ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed",
                ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class,
                ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class));
        this.thread = new Thread(this::loop, "run-commands-reader");
        this.thread.setDaemon(true);
    }

    /**
     * Called on the reader's thread with each retry that held ({@code MoveRun} with an attempt): whoever still
     * holds its {@code fromItem} must abandon it.
     */
    public RunCommandsReader onRetry(Consumer<MoveRun> callback) {
        this.onRetry = callback;
        return this;
    }

    /**
     * Called on the reader's thread with each adoption that opened ({@code AdoptRun} that held), once the reader
     * has caught up with the topic as it was at start (then with every adoption still open): an agent of the
     * run's queue may answer it with {@code RunAdopted}.
     */
    public RunCommandsReader onAdopt(Consumer<dev.launch.common.event.AdoptRun> callback) {
        this.onAdopt = callback;
        return this;
    }

    /**
     * Called on the reader's thread with each launch record that held (the first {@code RunLaunching} of a live
     * item), each time it is read: a reader that must not depend on the topic's retention keeps its own copy.
     */
    public RunCommandsReader onLaunch(Consumer<dev.launch.common.event.RunTaken> callback) {
        this.onLaunch = callback;
        return this;
    }

    /**
     * Called on the reader's thread with each hand-off read ({@code RunTaken} a queue's holder wrote for another
     * agent, with the run request; ADR 0005), right after the ledger applied it, every time it is read: the
     * agent it names checks that it is meant for its own incarnation and launches it once.
     */
    public RunCommandsReader onHandOff(Consumer<dev.launch.common.event.RunTaken> callback) {
        this.onHandOff = callback;
        return this;
    }

    /** What the records read so far decide. */
    public RunCommandLedger ledger() {
        return ledger;
    }

    public void start() {
        thread.start();
    }

    /** The stop command for {@code runId}, or null. */
    public StopRun stopRequested(String runId) {
        return ledger.stop(runId);
    }

    /**
     * Completes once this reader has read past {@code offset} of {@code partition}: the caller's own record,
     * acknowledged at that offset, and everything before it in the partition are then in the ledger. A
     * run's records all lie in one partition (keyed by run id), so this is all a decision about one run needs.
     */
    public CompletableFuture<Void> fence(TopicPartition partition, long offset) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        if (partitions == null) {
            done.completeExceptionally(new IllegalStateException("the run-command reader has not started yet"));
            return done;
        }
        fences.add(new Fence(Map.of(partition, offset + 1), done));
        consumer.wakeup(); // do not wait out an idle poll
        return done;
    }

    /**
     * Reads until closed. Kafka being away is waited out: the first look-up of the partitions is retried, and a
     * failed poll fails the fences waiting (their callers retry) and the reader carries on from where it was.
     */
    private void loop() {
        try {
            while (running && partitions == null) {
                try {
                    List<PartitionInfo> infos = consumer.partitionsFor(Topics.RUN_COMMANDS, Duration.ofSeconds(30));
                    List<TopicPartition> all = new ArrayList<>();
                    infos.forEach(info -> all.add(new TopicPartition(info.topic(), info.partition())));
                    consumer.assign(all);
                    consumer.seekToBeginning(all);
                    startEnds = consumer.endOffsets(all, Duration.ofSeconds(30));
                    partitions = List.copyOf(all);
                } catch (org.apache.kafka.common.errors.WakeupException e) {
                    throw e;
                } catch (RuntimeException e) {
                    LOG.warnf("cannot find %s yet (%s); trying again", Topics.RUN_COMMANDS, e.toString());
                    pause();
                }
            }
            while (running) {
                try {
                    for (ConsumerRecord<String, String> record : poll(fences.isEmpty() ? 200 : 5)) {
                        apply(record);
                    }
                    if (!caughtUp && caughtUp(startEnds)) {
                        caughtUp = true;
                        ledger.openAdoptions().forEach(this::offerAdoption);
                    }
                    fences.removeIf(fence -> {
                        if (caughtUp(fence.ends())) {
                            fence.done().complete(null);
                            return true;
                        }
                        return false;
                    });
                } catch (org.apache.kafka.common.errors.WakeupException e) {
                    throw e;
                } catch (RuntimeException e) {
                    LOG.warnf("reading %s failed (%s); carrying on", Topics.RUN_COMMANDS, e.toString());
                    Fence f;
                    while ((f = fences.poll()) != null) {
                        f.done().completeExceptionally(e);
                    }
                    pause();
                }
            }
        } catch (org.apache.kafka.common.errors.WakeupException e) {
            // closing
        } finally {
            consumer.close(Duration.ofSeconds(2));
        }
    }

    private void pause() {
        try {
            Thread.sleep(1000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            running = false;
        }
    }

    /** A poll that a {@link #fence} may cut short (a wakeup with no fence waiting means we are closing). */
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
            StopRun firstStop = ledger.apply(envelope);
            if (firstStop != null) {
                onStop.accept(firstStop);
            }
            if (EventTypes.ADOPT_RUN.equals(envelope.type()) && caughtUp) {
                dev.launch.common.event.AdoptRun adopt = envelope.payloadAs(dev.launch.common.event.AdoptRun.class);
                if (adopt.equals(ledger.openAdoption(adopt.runId()))) {
                    offerAdoption(adopt);
                }
            }
            if (EventTypes.RUN_TAKEN.equals(envelope.type())) {
                dev.launch.common.event.RunTaken take = envelope.payloadAs(dev.launch.common.event.RunTaken.class);
                if (take.handedOver()) {
                    onHandOff.accept(take);
                }
            }
            if (EventTypes.RUN_LAUNCHING.equals(envelope.type())) {
                dev.launch.common.event.RunTaken launch = envelope.payloadAs(dev.launch.common.event.RunTaken.class);
                if (launch.equals(ledger.launchRecord(launch.runId(), launch.itemId()))) {
                    onLaunch.accept(launch);
                }
            }
            if (EventTypes.MOVE_RUN.equals(envelope.type())) {
                MoveRun move = envelope.payloadAs(MoveRun.class);
                if (move.retry() && ledger.moveOutcome(move.runId(), move.toItem()).orElse(false)) {
                    onRetry.accept(move);
                }
            }
        } catch (RuntimeException e) {
            LOG.warnf("ignoring unreadable command at %s-%d@%d: %s", record.topic(), record.partition(),
                    record.offset(), e.getMessage());
        }
    }

    private void offerAdoption(dev.launch.common.event.AdoptRun adopt) {
        try {
            onAdopt.accept(adopt);
        } catch (RuntimeException e) {
            RunLog.warnf(LOG, adopt.runId(), adopt.queue(), null,
                    "offering the adoption of run %s failed: %s", adopt.runId(), e.toString());
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
