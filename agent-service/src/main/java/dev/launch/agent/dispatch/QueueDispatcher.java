package dev.launch.agent.dispatch;

import dev.launch.agent.messaging.EventPublisher;
import dev.launch.agent.messaging.RunTraces;
import dev.launch.common.event.EventEnvelope;
import dev.launch.common.event.EventTypes;
import dev.launch.common.event.Events;
import dev.launch.common.event.RunLifecycle;
import dev.launch.common.event.RunRequest;
import dev.launch.common.event.RunTaken;
import dev.launch.common.event.Topics;
import dev.launch.common.run.Priority;
import dev.launch.messaging.RunCommandsReader;
import io.micrometer.core.instrument.Counter;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanKind;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.jboss.logging.Logger;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * Takes one queue's runs in order. A queue is one single-partition topic, or one per priority level, and every
 * agent serving it is in the queue's consumer group; {@link FreeSlotsAssignor} gives all of a queue's topics to
 * one member (the agent with the most free slots), so exactly one agent reads the queue at a time: its holder.
 * With levels, the item taken is the oldest of the highest level that has one (checked against the levels' end
 * offsets before each take). For each item: hold a slot, claim the run ({@code RunClaimed}, acknowledged),
 * record the take ({@code RunTaken} on {@code launch.run-commands}), read the run's commands up to that record,
 * commit the offset, then launch it, or report it stopped, or skip it when it was moved to another level first.
 * When the holder has no free slot and a peer of the queue has one, it takes the item for that peer instead (a
 * hand-off, ADR 0005). The consumer is paused while nobody has a free slot. See DESIGN.md.
 */
public class QueueDispatcher implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(QueueDispatcher.class);

    private final String queue;
    private final String agentId;
    private final Slots slots;
    private final EventPublisher events;
    private final io.micrometer.core.instrument.DistributionSummary batchSizes;
    /** From this many queues on, an agent's queue consumers wake less often when idle. */
    public static final int MANY_QUEUES = 20;
    /** The most items one take handles together. */
    static final int MAX_BATCH = 64;
    private final RunCommandsReader commands;
    private final RunTraces traces;
    private final Verdicts verdicts;
    private final PeerSlots peers;
    private final Counter handedOff;
    private final Counter assigned;
    private final Admin admin;
    private final Counter deadLetters;
    private final KafkaConsumer<String, String> consumer;
    private final Thread thread;
    /** the queue's topics subscribed by name, or empty: found by pattern */
    private final List<String> topics;
    /** how long a poll waits for an item when none is pending */
    private final Duration idlePoll;
    private volatile boolean running = true;
    /** counts the assignments this consumer received: an item in hand is void once it changes */
    private volatile int generation;
    /** the Kafka topic id of each of the queue's topics as last assigned: every commit carries it */
    private final Map<String, String> topicIds = new java.util.concurrent.ConcurrentHashMap<>();

    /**
     * @param topics the queue's topics when they exist now (subscribed by name: the consumer then asks Kafka
     *               for these topics' metadata only), or empty to find them by pattern once the queue is created
     *               (every metadata refresh then lists all topics: fine for a few queues, ruinous for hundreds)
     * @param many   whether the agent serves many queues ({@link #MANY_QUEUES} or more): each queue's consumer
     *               then wakes less often when idle (heartbeats every 2 s instead of 0.5 s, an empty poll or fetch
     *               every 1 s and 5 s instead of 0.2 s and 0.5 s), since hundreds of idle consumers waking
     *               several times a second took a core; items still arrive as soon as they are committed, but a
     *               rebalance asked for by another agent takes up to 2 s to reach this one
     */
    public QueueDispatcher(String queue, List<String> topics, boolean many, String bootstrap, String agentId,
                           Slots slots, EventPublisher events, RunCommandsReader commands, Verdicts verdicts,
                           PeerSlots peers, Admin admin, Meters meters, java.time.Duration sessionTimeout,
                           RunTraces traces) {
        this.traces = traces;
        this.batchSizes = meters.batchSizes();
        this.queue = queue;
        this.agentId = agentId;
        this.slots = slots;
        this.events = events;
        this.commands = commands;
        this.verdicts = verdicts;
        this.peers = peers;
        this.handedOff = meters.handedOff();
        this.assigned = meters.assigned();
        this.admin = admin;
        this.deadLetters = meters.deadLetters();
        this.topics = topics;
        this.idlePoll = Duration.ofMillis(many ? 1_000 : 200);
        this.consumer = new KafkaConsumer<>(Map.ofEntries(
                Map.entry(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, (Object) bootstrap),
                Map.entry(ConsumerConfig.GROUP_ID_CONFIG, (Object) Topics.agentGroup(queue)),
                Map.entry(ConsumerConfig.CLIENT_ID_CONFIG, (Object) agentId + "-" + queue),
                Map.entry(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, (Object) false),
                Map.entry(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, (Object) "earliest"),
                Map.entry(ConsumerConfig.ISOLATION_LEVEL_CONFIG, (Object) "read_committed"),
                Map.entry(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, (Object) 1),
                // an agent that dies holding the queue blocks it until the broker drops it from the group
                Map.entry(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, (Object) (int) sessionTimeout.toMillis()),
                // a rebalance (an agent joining or leaving) reaches this one within half a second (2 s with many
                // queues)
                Map.entry(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, (Object) (many ? 2_000 : 500)),
                // an idle fetch waits this long at the broker; a committed item answers it at once
                Map.entry(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, (Object) (many ? 5_000 : 500)),
                // all of a queue's single-partition topics (its levels) go to one member: the one with the most
                // free slots
                Map.entry(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG,
                        (Object) FreeSlotsAssignor.class.getName()),
                Map.entry(FreeSlotsAssignor.SLOTS_CONFIG, (Object) slots),
                // a queue's topics looked for by pattern (a queue created after the agent starts) are seen
                // within this time
                Map.entry(ConsumerConfig.METADATA_MAX_AGE_CONFIG, (Object) (topics.isEmpty() ? 5_000 : 60_000)),
                Map.entry(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, (Object) StringDeserializer.class),
                Map.entry(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, (Object) StringDeserializer.class)));
        this.thread = new Thread(this::loop, "dispatch-" + queue);
    }

    /** A dispatcher's meters, all tagged with its queue. */
    public record Meters(Counter deadLetters, io.micrometer.core.instrument.DistributionSummary batchSizes,
                         Counter handedOff, Counter assigned) {
    }

    public void start() {
        ConsumerRebalanceListener listener = new ConsumerRebalanceListener() {
            @Override
            public void onPartitionsRevoked(java.util.Collection<TopicPartition> partitions) {
                // the committed offset is where the next owner starts; nothing else to hand over
            }

            @Override
            public void onPartitionsAssigned(java.util.Collection<TopicPartition> partitions) {
                generation++;
                if (!partitions.isEmpty()) {
                    assigned.increment();
                    LOG.infof("agent %s now holds queue %s (%d free slots)", agentId, queue, slots.free());
                    startWhereThisTopicWasLeft(partitions);
                }
            }
        };
        if (topics.isEmpty()) {
            consumer.subscribe(Topics.queueTopicPattern(queue), listener);
        } else {
            consumer.subscribe(topics, listener);
        }
        thread.start();
    }

    /**
     * A queue deleted and created again has new topics under the old names, while its group keeps the offsets
     * committed for the old ones: read as they are, the new topics' first items would be passed over. Each
     * commit carries its topic's id (the offset's metadata), so a committed offset whose id is not the topic's
     * now is from an earlier topic of that name: the new topic is read from its beginning. An offset committed
     * without an id (by an agent before this check) is trusted.
     */
    private void startWhereThisTopicWasLeft(java.util.Collection<TopicPartition> partitions) {
        try {
            java.util.Set<String> names = new java.util.HashSet<>();
            partitions.forEach(p -> names.add(p.topic()));
            admin.describeTopics(names).allTopicNames().get(10, TimeUnit.SECONDS)
                    .forEach((name, description) -> topicIds.put(name, description.topicId().toString()));
            Map<TopicPartition, OffsetAndMetadata> committed = consumer.committed(new java.util.HashSet<>(partitions),
                    Duration.ofSeconds(10));
            for (TopicPartition partition : partitions) {
                OffsetAndMetadata mark = committed.get(partition);
                String id = topicIds.get(partition.topic());
                if (mark != null && mark.metadata() != null && !mark.metadata().isEmpty() && id != null
                        && !mark.metadata().equals(id)) {
                    LOG.warnf("queue %s's topic %s was created again after offset %d was committed for the topic "
                            + "before it; reading the new topic from its beginning", queue, partition.topic(),
                            mark.offset());
                    consumer.seekToBeginning(List.of(partition));
                }
            }
        } catch (Exception e) {
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            LOG.warnf("cannot check queue %s's committed offsets against its topics now (%s); reading from them",
                    queue, e.toString());
        }
    }

    /**
     * Reads without holding a slot; only a dispatcher with an item in hand waits for one, in the fair
     * (first come, first served) line of the agent's slots, so a queue with nothing to do never holds a slot
     * from one that has work, and queues with work take turns.
     */
    private void loop() {
        ConsumerRecord<String, String> pending = null;
        // every line of this thread names its queue and agent (a run's own lines add its id)
        org.jboss.logging.MDC.put(dev.launch.messaging.RunLog.QUEUE, queue);
        org.jboss.logging.MDC.put(dev.launch.messaging.RunLog.AGENT, agentId);
        try {
            while (running) {
                try {
                    pending = step(pending);
                } catch (WakeupException e) {
                    throw e;
                } catch (RuntimeException e) {
                    LOG.errorf(e, "dispatching queue %s failed; carrying on in a second", queue);
                    pending = null;
                    Thread.sleep(1000);
                    rewindToCommitted();
                }
            }
        } catch (WakeupException e) {
            // closing
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            consumer.close(Duration.ofSeconds(5));
        }
    }

    /**
     * After an unexpected failure: read again from the committed offsets, so an item read but not taken is not
     * skipped (a take already recorded is recognised as this agent's own when it comes round again).
     */
    private void rewindToCommitted() {
        try {
            var assigned = consumer.assignment();
            consumer.committed(assigned, Duration.ofSeconds(10)).forEach((partition, mark) -> {
                if (mark != null) {
                    consumer.seek(partition, mark.offset());
                } else {
                    consumer.seekToBeginning(List.of(partition));
                }
            });
        } catch (RuntimeException e) {
            LOG.warnf("cannot rewind queue %s to its committed offsets (%s); the next rebalance will", queue,
                    e.toString());
        }
    }

    /** One turn of the loop: returns the item read and not yet taken (null when none). */
    private ConsumerRecord<String, String> step(ConsumerRecord<String, String> pending) throws InterruptedException {
        if (pending == null) {
            consumer.resume(consumer.paused());
            return first(consumer.poll(idlePoll));
        }
        TopicPartition from = new TopicPartition(pending.topic(), pending.partition());
        Grant grant = awaitSlot(from);
        if (grant == null) {
            return null; // stopping, or a rebalance came between: read again from the committed offset
        }
        if (grant.peer() != null) {
            handOff(pending, grant.peer());
            return null;
        }
        int held = 1;
        int launched = 0;
        try {
            ConsumerRecord<String, String> record = choose(pending);
            if (record != null) {
                List<ConsumerRecord<String, String>> batch = extend(record);
                held = batch.size();
                launched = take(batch);
            }
        } finally {
            for (int i = launched; i < held; i++) {
                slots.release();
            }
        }
        return null;
    }

    /**
     * {@code first} and the items right behind it in its partition that this agent has already fetched, as
     * many as it has free slots for while no other queue waits for one: they are taken together, so the
     * round trips of a take (claim, take, read back, commit) are paid once per batch, not once per run.
     * The batch holds one slot per item.
     */
    private List<ConsumerRecord<String, String>> extend(ConsumerRecord<String, String> first) {
        List<ConsumerRecord<String, String>> batch = new ArrayList<>();
        batch.add(first);
        int more = slots.tryMore(MAX_BATCH - 1);
        if (more == 0) {
            return batch;
        }
        TopicPartition partition = new TopicPartition(first.topic(), first.partition());
        List<TopicPartition> others = new ArrayList<>(consumer.assignment());
        others.remove(partition);
        consumer.pause(others); // the next read resumes them
        while (batch.size() <= more) {
            ConsumerRecord<String, String> next = first(consumer.poll(Duration.ZERO));
            if (next == null) {
                break;
            }
            if (!next.topic().equals(first.topic()) || next.partition() != first.partition()) {
                consumer.seek(new TopicPartition(next.topic(), next.partition()), next.offset());
                break;
            }
            batch.add(next);
        }
        for (int unused = more - (batch.size() - 1); unused > 0; unused--) {
            slots.release();
        }
        return batch;
    }

    /** Where the item in hand goes: a slot of this agent's (no peer), or a peer's free slot. */
    private record Grant(PeerSlots.Reservation peer) {
    }

    /**
     * Waits, holding an item of {@code from}, for a free slot of this agent's or of a peer of the queue (ADR
     * 0005); null when stopping or when a rebalance came meanwhile (the item in hand is then void: the consumer
     * reads again from the committed offset). While waiting the partitions are paused and polled now and then,
     * which keeps the agent in the group without reading further; anything a poll returns (a partition assigned
     * anew is not paused) is put back, so no item is passed over.
     */
    private Grant awaitSlot(TopicPartition from) throws InterruptedException {
        int joined = generation;
        Slots.Ticket ticket = slots.line();
        if (ticket.await(0, TimeUnit.MILLISECONDS)) {
            return new Grant(null);
        }
        boolean got = false;
        try {
            consumer.pause(consumer.assignment());
            while (running) {
                PeerSlots.Reservation peer = peers.reserve(queue);
                if (peer != null) {
                    return new Grant(peer);
                }
                // short waits (a peer's free slot nudges them): while a rebalance runs, every member's poll moves
                // it on
                if (ticket.awaitUnlessNudged(50, TimeUnit.MILLISECONDS)) {
                    got = true;
                    if (generation == joined && consumer.assignment().contains(from)) {
                        return new Grant(null);
                    }
                    slots.release();
                    return null;
                }
                putBack(consumer.poll(Duration.ZERO));
                if (generation != joined || !consumer.assignment().contains(from)) {
                    return null;
                }
            }
            return null;
        } finally {
            if (!got) {
                ticket.leave();
            }
        }
    }

    /** Seeks back to the first record of each partition in {@code records}: they are read again later. */
    private void putBack(ConsumerRecords<String, String> records) {
        for (TopicPartition partition : records.partitions()) {
            consumer.seek(partition, records.records(partition).get(0).offset());
        }
        consumer.pause(consumer.assignment());
    }

    /**
     * Takes {@code pending} (or, with levels, the item of a higher level that came first) for the peer whose free
     * slot {@code first} holds, together with the items fetched right behind it for as many further free peer
     * slots as there are (at most {@link #MAX_BATCH}): {@code RunClaimed} naming each item's peer (all sent, then
     * all acknowledged), then {@code RunTaken} naming it with the run request (likewise), then one commit. Each
     * peer's command reader reads its take and launches the run after the ledger's verdict, as for a take of its
     * own. A take once sent may have landed, so the takes are retried until acknowledged.
     */
    private void handOff(ConsumerRecord<String, String> pending, PeerSlots.Reservation first)
            throws InterruptedException {
        List<PeerSlots.Reservation> peersHeld = new ArrayList<>(List.of(first));
        int used = 0;
        try {
            ConsumerRecord<String, String> record = choose(pending);
            if (record == null) {
                return;
            }
            TopicPartition partition = new TopicPartition(record.topic(), record.partition());
            Decoded decoded = decode(record);
            if (decoded.request() == null) {
                deadLetter(partition, record, decoded.problem());
                return;
            }
            List<Item> items = new ArrayList<>(List.of(new Item(record, decoded.request())));
            extendForPeers(partition, items, peersHeld);
            if (!claim(partition, items, peersHeld.stream().map(PeerSlots.Reservation::agent).toList())) {
                return;
            }
            CrashPoints.at("after-claim");
            boolean recorded = untilRecorded(items, "hand-off", () -> {
                List<Future<?>> takes = new ArrayList<>();
                for (int i = 0; i < items.size(); i++) {
                    RunRequest request = items.get(i).request();
                    takes.add(events.send(Topics.RUN_COMMANDS, request.runId(), EventEnvelope.of(EventTypes.RUN_TAKEN,
                            request.runId(), RunTaken.handOff(request, peersHeld.get(i).agent(),
                                    peersHeld.get(i).incarnation(), agentId))));
                }
                for (Future<?> take : takes) {
                    take.get(30, TimeUnit.SECONDS);
                }
            });
            if (!recorded) {
                return;
            }
            for (int i = 0; i < items.size(); i++) {
                peersHeld.get(i).use(items.get(i).request().runId());
            }
            used = items.size();
            handedOff.increment(items.size());
            batchSizes.record(items.size());
            CrashPoints.at("after-take");
            commitPast(partition, items);
        } finally {
            for (int i = used; i < peersHeld.size(); i++) {
                peersHeld.get(i).cancel();
            }
        }
    }

    /**
     * Adds to {@code items} the run requests already fetched right behind them in {@code partition}, one per
     * further free peer slot it can reserve (into {@code peersHeld}); stops at anything that is not a run request
     * (put back: it leads the next take).
     */
    private void extendForPeers(TopicPartition partition, List<Item> items, List<PeerSlots.Reservation> peersHeld) {
        List<TopicPartition> others = new ArrayList<>(consumer.assignment());
        others.remove(partition);
        consumer.pause(others); // the next read resumes them
        consumer.resume(List.of(partition));
        while (items.size() < MAX_BATCH) {
            PeerSlots.Reservation peer = peers.reserve(queue);
            if (peer == null) {
                return;
            }
            ConsumerRecord<String, String> next = first(consumer.poll(Duration.ZERO));
            if (next == null) {
                peer.cancel();
                return;
            }
            Decoded decoded = decode(next);
            if (!next.topic().equals(partition.topic()) || next.partition() != partition.partition()
                    || decoded.request() == null) {
                consumer.seek(new TopicPartition(next.topic(), next.partition()), next.offset());
                peer.cancel();
                return;
            }
            items.add(new Item(next, decoded.request()));
            peersHeld.add(peer);
        }
    }

    /**
     * The item to take now, given {@code read}, the first item read. A queue without levels takes it. With
     * levels, the levels' last stable offsets are checked: if a higher level than {@code read}'s has an
     * item, {@code read} is put back and the higher level is read alone (null when only transaction markers
     * were there: the caller reads again). So a lower level never passes a higher one.
     */
    private ConsumerRecord<String, String> choose(ConsumerRecord<String, String> read) throws InterruptedException {
        List<TopicPartition> levels = new ArrayList<>(consumer.assignment());
        TopicPartition readFrom = new TopicPartition(read.topic(), read.partition());
        if (levels.size() <= 1 || rank(readFrom) == 0) {
            return read;
        }
        levels.sort(Comparator.comparingInt(QueueDispatcher::rank));
        Map<TopicPartition, Long> ends = committedEnds(levels);
        if (ends == null) {
            consumer.seek(readFrom, read.offset());
            return null;
        }
        for (TopicPartition level : levels) {
            if (level.equals(readFrom)) {
                return read;
            }
            if (consumer.position(level) < ends.get(level)) {
                consumer.seek(readFrom, read.offset());
                List<TopicPartition> others = new ArrayList<>(levels);
                others.remove(level);
                consumer.pause(others);
                consumer.resume(List.of(level));
                return first(consumer.poll(Duration.ofMillis(100)));
            }
        }
        return read;
    }

    private static ConsumerRecord<String, String> first(ConsumerRecords<String, String> records) {
        Iterator<ConsumerRecord<String, String>> it = records.iterator();
        return it.hasNext() ? it.next() : null;
    }

    private static int rank(TopicPartition partition) {
        Priority level = Topics.levelOf(partition.topic());
        return level == null ? 0 : level.rank();
    }

    /**
     * The levels' last stable offsets, read on the admin's own connection (on the consumer's it would wait
     * behind the long-polling fetch); null when Kafka did not answer in time.
     */
    private Map<TopicPartition, Long> committedEnds(List<TopicPartition> levels) throws InterruptedException {
        Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
        levels.forEach(p -> latest.put(p, OffsetSpec.latest()));
        try {
            Map<TopicPartition, Long> ends = new HashMap<>();
            admin.listOffsets(latest, new ListOffsetsOptions(IsolationLevel.READ_COMMITTED)).all()
                    .get(10, TimeUnit.SECONDS).forEach((p, info) -> ends.put(p, info.offset()));
            return ends;
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            LOG.warnf("cannot read the end offsets of queue %s's levels (%s); trying again", queue, e.toString());
            Thread.sleep(500);
            return null;
        }
    }

    /** An item of a batch: its record and the run request it holds. */
    private record Item(ConsumerRecord<String, String> record, RunRequest request) {
        String id() {
            return request.item();
        }
    }

    /**
     * Takes a batch of consecutive items of one partition, in order; returns how many of them were launched
     * (each launched run now holds one of the batch's slots).
     */
    private int take(List<ConsumerRecord<String, String>> records) throws InterruptedException {
        TopicPartition partition = new TopicPartition(records.get(0).topic(), records.get(0).partition());
        List<Item> items = new ArrayList<>();
        for (ConsumerRecord<String, String> record : records) {
            Decoded decoded = decode(record);
            if (decoded.request() != null) {
                items.add(new Item(record, decoded.request()));
            } else if (!items.isEmpty()) {
                consumer.seek(partition, record.offset()); // the items before it first; it leads the next batch
                break;
            } else if (!deadLetter(partition, record, decoded.problem())) {
                return 0;
            }
        }
        if (items.isEmpty()) {
            return 0;
        }
        batchSizes.record(items.size());
        List<Span> spans = new ArrayList<>(items.size());
        for (Item item : items) {
            spans.add(traces.begin("receive " + item.record().topic(), SpanKind.CONSUMER,
                    item.request(), agentId));
        }
        try {
            return take(partition, items);
        } finally {
            spans.forEach(Span::end);
        }
    }

    /** Claims, records and launches decoded items (each in its run's trace, begun by the caller). */
    private int take(TopicPartition partition, List<Item> items) throws InterruptedException {
        // claim first, then record the take: a stop whose RunStopRequested the read model saw before this
        // claim was acknowledged before it, so it lies before the take in the run's command partition
        if (!claim(partition, items, java.util.Collections.nCopies(items.size(), agentId))) {
            return 0;
        }
        CrashPoints.at("after-claim");
        // once a RunTaken has been sent it may have landed (an acknowledgement lost with the broker), and then
        // this agent owns the item: another agent reading it is told so and skips it. So the take is not given
        // up but tried again until this agent has read its verdict (or it shuts down: the status service then
        // hands the run back, as for any run a stopped agent held).
        if (!untilRecorded(items, "take", () -> recordTakes(items))) {
            return 0;
        }
        CrashPoints.at("after-take");
        commitPast(partition, items);
        int launched = 0;
        for (Item item : items) {
            if (verdicts.launchIfOurs(item.request(), item.id())) {
                launched++;
            }
        }
        return launched;
    }

    /**
     * Claims each item for its agent ({@code agents}, one per item): all {@code RunClaimed} sent, then all
     * acknowledged. False when that failed: the consumer is put back to the first item, which stays first.
     */
    private boolean claim(TopicPartition partition, List<Item> items, List<String> agents)
            throws InterruptedException {
        try {
            List<Future<?>> claims = new ArrayList<>();
            for (int i = 0; i < items.size(); i++) {
                RunRequest request = items.get(i).request();
                claims.add(events.run(EventTypes.RUN_CLAIMED, RunLifecycle.of(request.runId(), request.queue())
                        .withAgent(agents.get(i), request.attempt()).withItem(request.item())));
            }
            for (Future<?> claim : claims) {
                claim.get(30, TimeUnit.SECONDS);
            }
            return true;
        } catch (Exception e) {
            if (e instanceof InterruptedException ie) {
                throw ie;
            }
            LOG.warnf("could not claim run %s and %d after it (%s); they stay first in queue %s",
                    items.get(0).request().runId(), items.size() - 1, e, queue);
            consumer.seek(partition, items.get(0).record().offset());
            Thread.sleep(1000);
            return false;
        }
    }

    /** Writing the takes of a batch. */
    private interface Recording {
        void run() throws Exception;
    }

    /**
     * Runs {@code recording} until it succeeds: once a {@code RunTaken} has been sent it may have landed (an
     * acknowledgement lost with the broker), and then the item is taken, so the take is not given up. False only
     * when shutting down meanwhile (the status service then hands back the runs a stopped agent held).
     */
    private boolean untilRecorded(List<Item> items, String what, Recording recording) throws InterruptedException {
        while (true) {
            try {
                recording.run();
                return true;
            } catch (Exception e) {
                if (e instanceof InterruptedException ie) {
                    throw ie;
                }
                if (!running) {
                    LOG.warnf("shutting down while recording the %s of run %s and %d after it (%s)", what,
                            items.get(0).request().runId(), items.size() - 1, e);
                    return false;
                }
                LOG.warnf("could not record the %s of run %s and %d after it (%s); trying again", what,
                        items.get(0).request().runId(), items.size() - 1, e);
                Thread.sleep(1000);
            }
        }
    }

    /**
     * Commits past the batch. A failure is only logged: the takes are recorded, so whoever reads the items again
     * is told they were taken first and skips them.
     */
    private void commitPast(TopicPartition partition, List<Item> items) {
        try {
            commit(partition, items.get(items.size() - 1).record().offset() + 1);
        } catch (RuntimeException e) {
            LOG.warnf("could not commit past run %s in queue %s (%s); the items will be read again and skipped",
                    items.get(items.size() - 1).request().runId(), queue, e.toString());
        }
    }

    /** Sends a RunTaken per item and reads the command topic up to the last of them. */
    private void recordTakes(List<Item> items) throws Exception {
        List<Future<RecordMetadata>> sent = new ArrayList<>();
        for (Item item : items) {
            RunRequest request = item.request();
            sent.add(events.send(Topics.RUN_COMMANDS, request.runId(), EventEnvelope.of(EventTypes.RUN_TAKEN,
                    request.runId(), new RunTaken(request.runId(), request.queue(), item.id(), agentId))));
        }
        Map<TopicPartition, Long> last = new HashMap<>();
        for (Future<RecordMetadata> future : sent) {
            RecordMetadata taken = future.get(30, TimeUnit.SECONDS);
            last.merge(new TopicPartition(taken.topic(), taken.partition()), taken.offset(), Math::max);
        }
        List<java.util.concurrent.CompletableFuture<Void>> fences = new ArrayList<>();
        last.forEach((p, offset) -> fences.add(commands.fence(p, offset)));
        for (java.util.concurrent.CompletableFuture<Void> fence : fences) {
            fence.get(30, TimeUnit.SECONDS);
        }
    }

    /** What an item holds: a run request, or why it is not one. */
    private record Decoded(RunRequest request, String problem) {
    }

    private static Decoded decode(ConsumerRecord<String, String> record) {
        try {
            EventEnvelope envelope = Events.decode(record.value());
            if (!EventTypes.RUN_REQUESTED.equals(envelope.type())) {
                return new Decoded(null, "a queue holds RunRequested items, not " + envelope.type());
            }
            return new Decoded(envelope.payloadAs(RunRequest.class), null);
        } catch (RuntimeException e) {
            return new Decoded(null, e.getMessage());
        }
    }

    /** Sends an item that is not a run request to the dead letters and moves past it; false if that failed. */
    private boolean deadLetter(TopicPartition partition, ConsumerRecord<String, String> record, String reason)
            throws InterruptedException {
        LOG.errorf("item %s@%d is not a run request; it goes to %s: %s", record.topic(), record.offset(),
                Topics.DEAD_LETTER, reason);
        try {
            events.deadLetter(record, reason).get(30, TimeUnit.SECONDS);
            deadLetters.increment();
        } catch (Exception failed) {
            if (failed instanceof InterruptedException ie) {
                throw ie;
            }
            LOG.warnf("could not dead-letter item %s@%d (%s); it stays first in the queue", record.topic(),
                    record.offset(), failed.toString());
            consumer.seek(partition, record.offset());
            Thread.sleep(1000);
            return false;
        }
        commit(partition, record.offset() + 1);
        return true;
    }

    private void commit(TopicPartition partition, long next) {
        consumer.commitSync(Map.of(partition, new OffsetAndMetadata(next, topicIds.getOrDefault(partition.topic(), ""))),
                Duration.ofSeconds(30));
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
