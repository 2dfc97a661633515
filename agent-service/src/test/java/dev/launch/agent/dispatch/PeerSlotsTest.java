package dev.launch.agent.dispatch;

import dev.launch.common.event.AgentStatus;
import dev.launch.common.event.EventEnvelope;
import dev.launch.common.event.EventTypes;
import dev.launch.common.event.Events;
import dev.launch.common.event.Topics;
import dev.launch.common.naming.RunIds;
import dev.launch.devstack.SharedInfra;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.*;

/** What a queue's holder knows of its peers' free slots, read from real statuses on a real broker (ADR 0005). */
class PeerSlotsTest {
    private static KafkaProducer<String, String> producer;

    @BeforeAll
    static void connect() throws Exception {
        try (Admin admin = Admin.create(Map.of("bootstrap.servers", SharedInfra.kafkaBootstrap()))) {
            admin.createTopics(List.of(new NewTopic(Topics.AGENTS, 3, (short) 1))).all().get(30, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            if (!(e.getCause() instanceof TopicExistsException)) {
                throw e;
            }
        }
        producer = new KafkaProducer<>(Map.of("bootstrap.servers", SharedInfra.kafkaBootstrap(), "acks", "all",
                "key.serializer", StringSerializer.class.getName(), "value.serializer", StringSerializer.class.getName()));
    }

    @AfterAll
    static void disconnect() {
        producer.close();
    }

    private static void status(String type, String agent, Instant startedAt, List<String> queues, Integer free,
                               List<String> read) throws Exception {
        producer.send(new ProducerRecord<>(Topics.AGENTS, agent, Events.encode(EventEnvelope.of(type, agent,
                new AgentStatus(agent, queues, 1, List.of(), "h", 1, 60_000, startedAt, free, read)))))
                .get(10, TimeUnit.SECONDS);
    }

    @Test
    void aPeersFreeSlotIsOfferedOnceUntilThePeerSaysItReadTheHandOff() throws Exception {
        String suffix = UUID.randomUUID().toString().substring(0, 8);
        String queue = "peers-" + suffix;
        String peer = "peer-" + suffix;
        Instant startedAt = Instant.now();
        AtomicInteger nudges = new AtomicInteger();
        try (PeerSlots peers = new PeerSlots(SharedInfra.kafkaBootstrap(), "self-" + suffix, Duration.ofMinutes(1),
                nudges::incrementAndGet)) {
            peers.start();
            status(EventTypes.AGENT_STARTED, peer, startedAt, List.of(queue), 1, List.of());
            await().atMost(30, TimeUnit.SECONDS).until(() -> peers.peersOf(queue) == 1);
            assertTrue(nudges.get() > 0, "a peer with a free slot wakes the holders");
            assertNull(peers.reserve("other-" + suffix), "not a peer of another queue");

            PeerSlots.Reservation first = peers.reserve(queue);
            assertNotNull(first);
            assertEquals(peer, first.agent());
            assertEquals(startedAt, first.incarnation());
            assertNull(peers.reserve(queue), "its one slot is held for the first hand-off");
            first.cancel();
            PeerSlots.Reservation again = peers.reserve(queue);
            assertNotNull(again, "a cancelled reservation gives the slot back");
            String run = RunIds.next();
            again.use(run);

            // a status sent before the peer read the hand-off still says 1 free: the slot stays counted
            String marker = RunIds.next();
            status(EventTypes.AGENT_HEARTBEAT, peer, startedAt, List.of(queue), 1, List.of(marker));
            await().atMost(30, TimeUnit.SECONDS).until(() -> peers.statusOf(peer).handoffsRead().contains(marker));
            assertNull(peers.reserve(queue), "the unconfirmed hand-off's slot is not offered again");
            // the peer read it, ran it and is free again
            status(EventTypes.AGENT_HEARTBEAT, peer, startedAt, List.of(queue), 1, List.of(marker, run));
            await().atMost(30, TimeUnit.SECONDS).until(() -> {
                PeerSlots.Reservation r = peers.reserve(queue);
                if (r == null) {
                    return false;
                }
                r.cancel();
                return true;
            });

            // a peer that says goodbye is no peer
            status(EventTypes.AGENT_STOPPED, peer, startedAt, List.of(queue), 1, List.of());
            await().atMost(30, TimeUnit.SECONDS).until(() -> peers.peersOf(queue) == 0);
            assertNull(peers.reserve(queue));

            // a full peer, or one of an older version (no free slots stated), gets nothing
            status(EventTypes.AGENT_STARTED, peer + "-full", startedAt, List.of(queue), 0, List.of());
            status(EventTypes.AGENT_STARTED, peer + "-old", startedAt, List.of(queue), null, null);
            await().atMost(30, TimeUnit.SECONDS).until(() -> peers.peersOf(queue) == 1);
            assertNull(peers.reserve(queue));
        }
    }
}
