package dev.launch.agent.dispatch;

import dev.launch.agent.messaging.EventPublisher;
import dev.launch.agent.messaging.StopCommands;
import dev.launch.common.event.EventEnvelope;
import dev.launch.common.event.EventTypes;
import dev.launch.common.event.Events;
import dev.launch.common.event.RunLifecycle;
import dev.launch.common.event.RunRequest;
import dev.launch.common.event.StopRun;
import dev.launch.common.event.Topics;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.jboss.logging.Logger;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Takes one queue's runs in order. The queue's topic has one partition and every agent serving it is in the
 * queue's consumer group, so exactly one agent reads it at a time. For each item: hold a slot, claim the run
 * ({@code RunClaimed}, acknowledged), fence the stop commands, commit the offset, then launch it, or report
 * it stopped if a stop came first. The consumer is paused while the agent has no free slot. See DESIGN.md.
 */
public class QueueDispatcher implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(QueueDispatcher.class);

    private final String queue;
    private final String agentId;
    private final Slots slots;
    private final EventPublisher events;
    private final StopCommands stops;
    private final RunSupervisor supervisor;
    private final KafkaConsumer<String, String> consumer;
    private final Thread thread;
    private volatile boolean running = true;

    public QueueDispatcher(String queue, String bootstrap, String agentId, Slots slots, EventPublisher events,
                           StopCommands stops, RunSupervisor supervisor) {
        this.queue = queue;
        this.agentId = agentId;
        this.slots = slots;
        this.events = events;
        this.stops = stops;
        this.supervisor = supervisor;
        this.consumer = new KafkaConsumer<>(Map.ofEntries(
                Map.entry(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, (Object) bootstrap),
                Map.entry(ConsumerConfig.GROUP_ID_CONFIG, (Object) Topics.agentGroup(queue)),
                Map.entry(ConsumerConfig.CLIENT_ID_CONFIG, (Object) agentId + "-" + queue),
                Map.entry(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, (Object) false),
                Map.entry(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, (Object) "earliest"),
                Map.entry(ConsumerConfig.ISOLATION_LEVEL_CONFIG, (Object) "read_committed"),
                Map.entry(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, (Object) 1),
                Map.entry(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, (Object) 10_000),
                Map.entry(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, (Object) 2_000),
                Map.entry(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, (Object) StringDeserializer.class),
                Map.entry(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, (Object) StringDeserializer.class)));
        this.thread = new Thread(this::loop, "dispatch-" + queue);
    }

    public void start() {
        consumer.subscribe(List.of(Topics.queue(queue)));
        thread.start();
    }

    private void loop() {
        boolean paused = false;
        try {
            while (running) {
                if (!slots.tryAcquire(0, TimeUnit.MILLISECONDS)) {
                    if (!paused) {
                        consumer.pause(consumer.assignment());
                        paused = true;
                    }
                    // paused: this poll only serves the consumer's own duties (rebalances, commits)
                    consumer.poll(Duration.ZERO);
                    // wait on the slot itself, so a freed slot is used at once rather than after a poll
                    if (!slots.tryAcquire(200, TimeUnit.MILLISECONDS)) {
                        continue;
                    }
                }
                boolean slotUsed = false;
                try {
                    if (paused) {
                        consumer.resume(consumer.paused());
                        paused = false;
                    }
                    ConsumerRecords<String, String> records = consumer.poll(Duration.ofMillis(100));
                    for (ConsumerRecord<String, String> record : records) {
                        slotUsed = take(record);
                    }
                } finally {
                    if (!slotUsed) {
                        slots.release();
                    }
                }
            }
        } catch (WakeupException e) {
            // closing
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            LOG.errorf(e, "dispatching queue %s failed; the agent no longer takes its runs", queue);
        } finally {
            consumer.close(Duration.ofSeconds(5));
        }
    }

    /** Handles one item; true when a launched run now holds the slot. */
    private boolean take(ConsumerRecord<String, String> record) throws InterruptedException {
        TopicPartition partition = new TopicPartition(record.topic(), record.partition());
        RunRequest request;
        try {
            EventEnvelope envelope = Events.decode(record.value());
            if (!EventTypes.RUN_REQUESTED.equals(envelope.type())) {
                throw new Events.UndecodableEventException("a queue holds RunRequested items, not " + envelope.type(),
                        null);
            }
            request = envelope.payloadAs(RunRequest.class);
        } catch (RuntimeException e) {
            LOG.errorf("skipping undecodable item %s@%d: %s", Topics.queue(queue), record.offset(), e.getMessage());
            commit(partition, record.offset() + 1);
            return false;
        }
        try {
            events.run(EventTypes.RUN_CLAIMED, RunLifecycle.of(request.runId(), request.queue())
                    .withAgent(agentId, request.attempt())).get(30, TimeUnit.SECONDS);
            stops.fence().get(30, TimeUnit.SECONDS);
            commit(partition, record.offset() + 1);
        } catch (Exception e) {
            if (e instanceof InterruptedException ie) {
                throw ie;
            }
            LOG.warnf("could not claim run %s (%s); it stays first in queue %s", request.runId(), e, queue);
            consumer.seek(partition, record.offset());
            Thread.sleep(1000);
            return false;
        }
        StopRun stop = stops.stopRequested(request.runId());
        if (stop != null) {
            events.run(EventTypes.RUN_STOPPED, RunLifecycle.of(request.runId(), request.queue())
                    .withAgent(agentId, request.attempt()).withReason("stopped before it was launched: "
                            + stop.reason()));
            return false;
        }
        supervisor.launch(request, slots::release);
        return true;
    }

    private void commit(TopicPartition partition, long next) {
        consumer.commitSync(Map.of(partition, new OffsetAndMetadata(next)), Duration.ofSeconds(30));
    }

    /** Takes no new item from now on; a take in progress still ends in a launch or a redelivery. */
    public void stopTaking() {
        running = false;
        consumer.wakeup();
    }

    @Override
    public void close() {
        stopTaking();
        try {
            thread.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
