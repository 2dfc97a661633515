package dev.launch.agent.dispatch;

import dev.launch.common.event.AgentStatus;
import dev.launch.common.event.EventEnvelope;
import dev.launch.common.event.EventTypes;
import dev.launch.common.event.Events;
import dev.launch.common.event.Topics;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.jboss.logging.Logger;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * What this agent knows of the other agents' free slots, from their statuses on {@code launch.agents} (ADR
 * 0005): a queue's holder with an item and no slot of its own hands the item to a peer of the queue that has
 * one. Reads every partition from a few heartbeat intervals back (so the peers are known soon after start),
 * without a consumer group. A peer counts while its last status is younger than three of its intervals and it
 * has not said goodbye. A hand-off counts against the peer's free slots until a status of the peer lists it as
 * read (or {@link #PENDING_FOR} passes: the peer is gone or slow, and its own statuses say the rest).
 * Thread-safe.
 */
public class PeerSlots implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(PeerSlots.class);
    /** how long a hand-off counts against a peer that has not said it read it */
    static final long PENDING_FOR = Duration.ofSeconds(10).toNanos();

    private final String self;
    private final Duration lookBack;
    private final Runnable onFree;
    private final KafkaConsumer<String, String> consumer;
    private final Thread thread;
    private volatile boolean running = true;
    private final Map<String, Peer> peers = new HashMap<>();

    /** A peer's last status, when it was read, and the hand-offs to it that it has not confirmed. */
    private static final class Peer {
        AgentStatus status;
        long seenAt;
        /** since when (our clock) it has had a free slot, for choosing the peer free longest */
        long freeSince;
        final List<Pending> pending = new ArrayList<>();

        int free(long now) {
            pending.removeIf(p -> now - p.at > PENDING_FOR
                    || (p.runId != null && status.handoffsRead() != null && status.handoffsRead().contains(p.runId)));
            return (status.freeSlots() == null ? 0 : status.freeSlots()) - pending.size();
        }

        boolean live(long now) {
            return now - seenAt < 3 * Math.max(1, status.heartbeatIntervalMs()) * 1_000_000L;
        }
    }

    private static final class Pending {
        final long at;
        String runId;

        Pending(long at) {
            this.at = at;
        }
    }

    /** One free slot of a peer, held for one hand-off: {@link #use} it with the run handed, or {@link #cancel}. */
    public final class Reservation {
        private final String agent;
        private final Instant incarnation;
        private final Pending pending;

        private Reservation(String agent, Instant incarnation, Pending pending) {
            this.agent = agent;
            this.incarnation = incarnation;
            this.pending = pending;
        }

        public String agent() {
            return agent;
        }

        /** The peer's {@code startedAt}: the hand-off names it, so a later incarnation ignores it. */
        public Instant incarnation() {
            return incarnation;
        }

        /** The slot went to {@code runId}: it counts until the peer says it read the hand-off. */
        public void use(String runId) {
            synchronized (PeerSlots.this) {
                pending.runId = runId;
            }
        }

        /** Not used after all. */
        public void cancel() {
            synchronized (PeerSlots.this) {
                Peer peer = peers.get(agent);
                if (peer != null) {
                    peer.pending.remove(pending);
                }
            }
        }
    }

    /**
     * @param self     this agent's id (never its own peer)
     * @param lookBack how far back to read statuses at start (a few heartbeat intervals)
     * @param onFree   called on the reader's thread when a peer's status shows a free slot
     */
    public PeerSlots(String bootstrap, String self, Duration lookBack, Runnable onFree) {
        this.self = self;
        this.lookBack = lookBack;
        this.onFree = onFree;
        this.consumer = new KafkaConsumer<>(Map.of(
                ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap,
                ConsumerConfig.CLIENT_ID_CONFIG, self + "-peers",
                ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false,
                // a status is answered at once; an idle fetch waits at most this long at the broker
                ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 500,
                ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class,
                ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class));
        this.thread = new Thread(this::loop, "peer-slots");
        this.thread.setDaemon(true);
    }

    public void start() {
        thread.start();
    }

    /**
     * A free slot of the live peer of {@code queue} that has been free longest, held for one hand-off; null
     * when no peer has one.
     */
    public synchronized Reservation reserve(String queue) {
        long now = System.nanoTime();
        Map.Entry<String, Peer> best = null;
        for (Map.Entry<String, Peer> entry : peers.entrySet()) {
            Peer peer = entry.getValue();
            if (!peer.live(now) || peer.status.queues() == null || !peer.status.queues().contains(queue)
                    || peer.free(now) <= 0) {
                continue;
            }
            if (best == null || peer.freeSince < best.getValue().freeSince) {
                best = entry;
            }
        }
        if (best == null) {
            return null;
        }
        Pending pending = new Pending(now);
        best.getValue().pending.add(pending);
        return new Reservation(best.getKey(), best.getValue().status.startedAt(), pending);
    }

    /** The live peers serving {@code queue} that state their free slots (for metrics and tests). */
    public synchronized int peersOf(String queue) {
        long now = System.nanoTime();
        return (int) peers.values().stream().filter(p -> p.live(now) && p.status.freeSlots() != null
                && p.status.queues() != null && p.status.queues().contains(queue)).count();
    }

    /** The last status read from {@code agent}, or null. */
    synchronized AgentStatus statusOf(String agent) {
        Peer peer = peers.get(agent);
        return peer == null ? null : peer.status;
    }

    private void loop() {
        try {
            while (running && !assign()) {
                pause();
            }
            while (running) {
                try {
                    for (ConsumerRecord<String, String> record : consumer.poll(Duration.ofMillis(1_000))) {
                        apply(record);
                    }
                    forgetSilent();
                } catch (WakeupException e) {
                    throw e;
                } catch (RuntimeException e) {
                    LOG.warnf("reading %s failed (%s); carrying on", Topics.AGENTS, e.toString());
                    pause();
                }
            }
        } catch (WakeupException e) {
            // closing
        } finally {
            consumer.close(Duration.ofSeconds(2));
        }
    }

    /** Assigns every partition of {@code launch.agents}, positioned {@link #lookBack} ago; false to retry. */
    private boolean assign() {
        try {
            List<PartitionInfo> infos = consumer.partitionsFor(Topics.AGENTS, Duration.ofSeconds(30));
            List<TopicPartition> all = new ArrayList<>();
            infos.forEach(info -> all.add(new TopicPartition(info.topic(), info.partition())));
            consumer.assign(all);
            long since = System.currentTimeMillis() - lookBack.toMillis();
            Map<TopicPartition, Long> times = new HashMap<>();
            all.forEach(p -> times.put(p, since));
            Map<TopicPartition, OffsetAndTimestamp> from = consumer.offsetsForTimes(times, Duration.ofSeconds(30));
            for (TopicPartition partition : all) {
                OffsetAndTimestamp at = from.get(partition);
                if (at == null) {
                    consumer.seekToEnd(List.of(partition));
                } else {
                    consumer.seek(partition, at.offset());
                }
            }
            return true;
        } catch (WakeupException e) {
            throw e;
        } catch (RuntimeException e) {
            LOG.warnf("cannot read %s yet (%s); trying again", Topics.AGENTS, e.toString());
            return false;
        }
    }

    private void apply(ConsumerRecord<String, String> record) {
        AgentStatus status;
        String type;
        try {
            EventEnvelope envelope = Events.decode(record.value());
            type = envelope.type();
            status = envelope.payloadAs(AgentStatus.class);
        } catch (RuntimeException e) {
            return; // the status service dead-letters what it cannot read
        }
        if (status.agentId() == null || status.agentId().equals(self)) {
            return;
        }
        boolean free;
        synchronized (this) {
            if (EventTypes.AGENT_STOPPED.equals(type)) {
                peers.remove(status.agentId());
                return;
            }
            long now = System.nanoTime();
            Peer peer = peers.computeIfAbsent(status.agentId(), id -> new Peer());
            if (peer.status != null && !status.startedAt().equals(peer.status.startedAt())) {
                peer.pending.clear(); // a new incarnation: what was handed to the old one is not its to confirm
            }
            boolean wasFree = peer.status != null && peer.status.freeSlots() != null && peer.status.freeSlots() > 0;
            peer.status = status;
            peer.seenAt = now;
            free = status.freeSlots() != null && status.freeSlots() > 0;
            if (free && !wasFree) {
                peer.freeSince = now;
            }
            free = free && peer.free(now) > 0;
        }
        if (free) {
            onFree.run();
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

    /** Drops peers not heard from for long (their entries are small, but agents come and go). */
    synchronized void forgetSilent() {
        long now = System.nanoTime();
        for (Iterator<Peer> it = peers.values().iterator(); it.hasNext(); ) {
            Peer peer = it.next();
            if (now - peer.seenAt > 10 * Math.max(1, peer.status.heartbeatIntervalMs()) * 1_000_000L) {
                it.remove();
            }
        }
    }
}
