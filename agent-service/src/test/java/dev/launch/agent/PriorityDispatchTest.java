package dev.launch.agent;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import dev.launch.common.event.EventEnvelope;
import dev.launch.common.event.EventTypes;
import dev.launch.common.event.Events;
import dev.launch.common.event.MoveRun;
import dev.launch.common.event.RunLifecycle;
import dev.launch.common.event.RunRequest;
import dev.launch.common.event.Topics;
import dev.launch.common.job.JobSource;
import dev.launch.common.naming.RunIds;
import dev.launch.common.run.Priority;
import dev.launch.devstack.SharedInfra;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A queue with priorities on the real broker: items are written the way the queue service writes them (each
 * enqueue its own Kafka transaction, one single-partition topic per level), while the agent (max-jobs 1) is
 * busy with a run that waits for a gate file.
 */
@QuarkusTest
@QuarkusTestResource(AgentTestInfra.class)
class PriorityDispatchTest {
    private static final String QUEUE = AgentTestInfra.PRIORITY_QUEUE;
    private static RunEventsRecorder runs;
    private static KafkaProducer<String, String> producer;
    private static org.apache.kafka.clients.admin.Admin admin;

    @BeforeAll
    static void connect() {
        runs = RunEventsRecorder.runs(SharedInfra.kafkaBootstrap());
        producer = new KafkaProducer<>(Map.of("bootstrap.servers", SharedInfra.kafkaBootstrap(), "acks", "all",
                "transactional.id", "priority-test-" + UUID.randomUUID(),
                "key.serializer", StringSerializer.class.getName(),
                "value.serializer", StringSerializer.class.getName()));
        producer.initTransactions();
        admin = org.apache.kafka.clients.admin.Admin.create(Map.of("bootstrap.servers", SharedInfra.kafkaBootstrap()));
    }

    @AfterAll
    static void disconnect() {
        runs.close();
        producer.close();
        admin.close();
    }

    private static RunRequest request(String targetType, Priority level, List<String> command, Path code) {
        return request(QUEUE, targetType, level, command, code);
    }

    private static RunRequest request(String queue, String targetType, Priority level, List<String> command,
                                      Path code) {
        String runId = RunIds.next();
        return new RunRequest(runId, queue, "job", 1, "sha256:x",
                new JobSource(JobSource.CODE, null, null, null, null, code.toString(), code.toString()), command,
                JsonNodeFactory.instance.objectNode(), JsonNodeFactory.instance.objectNode().put("type", targetType),
                1, 1, level == null ? null : level.label(), Instant.now(), null);
    }

    /** One enqueue: the item on its level's topic, in a transaction of its own (as the queue service does). */
    private static void write(RunRequest request, MoveRun move) throws Exception {
        producer.beginTransaction();
        var item = producer.send(new ProducerRecord<>(Topics.queueItems(request.queue(),
                        Priority.parse(request.priority()).orElse(null)),
                request.runId(), Events.encode(EventEnvelope.of(EventTypes.RUN_REQUESTED, request.runId(), request))));
        if (move != null) {
            producer.send(new ProducerRecord<>(Topics.RUN_COMMANDS, move.runId(),
                    Events.encode(EventEnvelope.of(EventTypes.MOVE_RUN, move.runId(), move))));
        }
        producer.commitTransaction();
        awaitVisible(item.get());
    }

    /**
     * Until a read_committed reader can see the record: a commit returns before the coordinator has written
     * the commit marker to every partition, and a test that opens the gate at once would race it.
     */
    private static void awaitVisible(org.apache.kafka.clients.producer.RecordMetadata written) {
        var partition = new org.apache.kafka.common.TopicPartition(written.topic(), written.partition());
        await().atMost(10, TimeUnit.SECONDS).pollDelay(java.time.Duration.ZERO)
                .pollInterval(java.time.Duration.ofMillis(5)).until(() -> admin.listOffsets(
                        Map.of(partition, org.apache.kafka.clients.admin.OffsetSpec.latest()),
                        new org.apache.kafka.clients.admin.ListOffsetsOptions(
                                org.apache.kafka.common.IsolationLevel.READ_COMMITTED))
                .partitionResult(partition).get(10, TimeUnit.SECONDS).offset() > written.offset());
    }

    private static String noop(Priority level) throws Exception {
        RunRequest r = request("noop", level, List.of("true"), Files.createTempDirectory("noop"));
        write(r, null);
        return r.runId();
    }

    /** Moves a queued run to {@code level}: its new item and the MoveRun command in one transaction. */
    private static void move(String runId, Priority level) throws Exception {
        RunRequest moved = request("noop", level, List.of("true"), Files.createTempDirectory("noop"));
        String item = RunIds.next();
        RunRequest newItem = new RunRequest(runId, QUEUE, moved.job(), 1, moved.jobDigest(), moved.source(),
                moved.command(), moved.inputs(), moved.target(), 1, 1, level.label(), moved.enqueuedAt(), item);
        write(newItem, new MoveRun(runId, QUEUE, runId, item, level.label(), "test"));
    }

    /** A local process that holds the agent's only slot until {@code gate} exists. */
    private static Path blockAgent() throws Exception {
        Path code = Files.createTempDirectory("blocker");
        Files.writeString(code.resolve("run.sh"), "while [ ! -e \"$1\" ]; do sleep 0.02; done\n");
        Path gate = code.resolve("gate");
        RunRequest blocker = request("local-process", Priority.LOW, List.of("sh", "run.sh", gate.toString()), code);
        write(blocker, null);
        awaitType(blocker.runId(), EventTypes.RUN_RUNNING);
        return gate;
    }

    private static void awaitType(String runId, String type) {
        await().atMost(60, TimeUnit.SECONDS).until(() -> runs.typesOf(runId).contains(type));
    }

    private static long count(String runId, String type) {
        return runs.typesOf(runId).stream().filter(type::equals).count();
    }

    /** The runs among {@code ids} in the order the agent launched them (claims are made one after another). */
    private static List<String> launchOrder(List<String> ids) {
        return runs.all().stream().filter(e -> ids.contains(e.subject()))
                .filter(e -> e.type().equals(EventTypes.RUN_STARTING))
                .sorted(Comparator.comparing(EventEnvelope::occurredAt)).map(EventEnvelope::subject).toList();
    }

    @Test
    void twoHundredRunsOfMixedPrioritiesStartHighestLevelFirstAndFifoWithinALevel() throws Exception {
        Path gate = blockAgent();
        Random random = new Random(7);
        List<String> ids = new ArrayList<>();
        Map<String, Priority> levels = new java.util.HashMap<>();
        for (int i = 0; i < 200; i++) {
            Priority level = Priority.values()[random.nextInt(4)];
            String id = noop(level);
            ids.add(id);
            levels.put(id, level);
        }
        Files.createFile(gate);
        for (String id : ids) {
            awaitType(id, EventTypes.RUN_FINISHED);
        }
        List<String> expected = ids.stream().sorted(Comparator.comparingInt(id -> levels.get(id).rank())).toList();
        // compared as "level#enqueue-index" so a failure reads as the order it shows
        java.util.function.Function<List<String>, List<String>> named = order -> order.stream()
                .map(id -> levels.get(id).label() + "#" + ids.indexOf(id)).toList();
        assertEquals(named.apply(expected), named.apply(launchOrder(ids)));
        for (String id : ids) {
            assertEquals(1, count(id, EventTypes.RUN_STARTING), id);
        }
    }

    @Test
    void aRunMovedToAHigherLevelStartsFromThereAndOnlyOnce() throws Exception {
        Path gate = blockAgent();
        String low1 = noop(Priority.LOW);
        String high = noop(Priority.HIGH);
        String low2 = noop(Priority.LOW);
        move(low2, Priority.CRITICAL);
        Files.createFile(gate);
        for (String id : List.of(low1, high, low2)) {
            awaitType(id, EventTypes.RUN_FINISHED);
        }
        String marker = noop(Priority.LOW); // behind the old item of low2: once it ends, that item was read
        awaitType(marker, EventTypes.RUN_FINISHED);
        assertEquals(List.of(low2, high, low1, marker), launchOrder(List.of(low1, high, low2, marker)));
        assertEquals(1, count(low2, EventTypes.RUN_STARTING));
        assertEquals(1, count(low2, EventTypes.RUN_FINISHED));
    }

    @Test
    void queuesWithWorkTakeTurnsForTheAgentsSlotsSoADeepQueueDoesNotStarveAShallowOne() throws Exception {
        Path gate = blockAgent();
        List<String> deep = new ArrayList<>();
        for (int i = 0; i < 30; i++) {
            deep.add(noop(Priority.MEDIUM));
        }
        List<String> shallow = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            RunRequest r = request(AgentTestInfra.QUEUE, "noop", null, List.of("true"),
                    Files.createTempDirectory("noop"));
            write(r, null);
            shallow.add(r.runId());
        }
        Files.createFile(gate);
        List<String> all = new ArrayList<>(deep);
        all.addAll(shallow);
        for (String id : all) {
            awaitType(id, EventTypes.RUN_FINISHED);
        }
        List<String> order = launchOrder(all);
        // turns: deep, shallow, deep, shallow ... (give or take the first turn), not 30 deep runs first
        List<Integer> at = shallow.stream().map(order::indexOf).toList();
        System.out.println("shallow runs started at " + at + " of " + order.size());
        for (int i = 0; i < at.size(); i++) {
            assertTrue(at.get(i) <= 2 * i + 2, "shallow runs started at " + at + " of " + order.size());
        }
        assertEquals(deep, order.stream().filter(deep::contains).toList(), "each queue stays in order");
    }

    @Test
    void aMoveThatLosesToATakeIsNeverLaunched() throws Exception {
        String taken = noop(Priority.LOW);
        awaitType(taken, EventTypes.RUN_FINISHED);
        move(taken, Priority.CRITICAL); // too late: the agent took the item before the move was recorded
        String marker = noop(Priority.LOW);
        awaitType(marker, EventTypes.RUN_FINISHED);
        // the void item was claimed (claims come before the verdict) but never started
        assertEquals(2, runs.of(taken).stream().filter(e -> e.type().equals(EventTypes.RUN_CLAIMED))
                .map(e -> e.payloadAs(RunLifecycle.class).itemId()).distinct().count());
        assertEquals(1, count(taken, EventTypes.RUN_STARTING));
    }
}
