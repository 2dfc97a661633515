package dev.launch.agent;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import dev.launch.common.event.EventEnvelope;
import dev.launch.common.event.EventTypes;
import dev.launch.common.event.Events;
import dev.launch.common.event.RunRequest;
import dev.launch.common.event.Topics;
import dev.launch.common.job.JobSource;
import dev.launch.common.naming.RunIds;
import dev.launch.devstack.SharedInfra;
import dev.launch.devstack.TopicReader;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static io.restassured.RestAssured.given;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** An agent with 16 slots takes a backlog in batches: in queue order, each run once, a bad item dead-lettered. */
@QuarkusTest
@TestProfile(BatchDispatchTest.SixteenSlots.class)
@QuarkusTestResource(AgentTestInfra.class)
class BatchDispatchTest {

    public static class SixteenSlots implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("launch.agent.max-jobs", "16");
        }
    }

    private static RunRequest noop() {
        return new RunRequest(RunIds.next(), AgentTestInfra.QUEUE, "job", 1, "sha256:x",
                new JobSource(JobSource.CODE, null, null, null, null, "/tmp", "/tmp"), List.of("true"),
                JsonNodeFactory.instance.objectNode(), JsonNodeFactory.instance.objectNode().put("type", "noop"),
                1, 1, null, Instant.now(), null);
    }

    @Test
    void aBacklogIsTakenInBatchesInQueueOrderEachRunOnce() throws Exception {
        List<String> ids = new ArrayList<>();
        String bad = "bad-" + UUID.randomUUID();
        try (RunEventsRecorder runs = RunEventsRecorder.runs(SharedInfra.kafkaBootstrap());
             KafkaProducer<String, String> producer = new KafkaProducer<>(Map.of(
                     "bootstrap.servers", SharedInfra.kafkaBootstrap(), "transactional.id", "batch-" + UUID.randomUUID(),
                     "key.serializer", StringSerializer.class.getName(),
                     "value.serializer", StringSerializer.class.getName()))) {
            producer.initTransactions();
            // one transaction: the agent sees the whole backlog at once
            producer.beginTransaction();
            for (int i = 0; i < 60; i++) {
                if (i == 30) {
                    producer.send(new ProducerRecord<>(Topics.queue(AgentTestInfra.QUEUE), bad, "{not an event"));
                }
                RunRequest r = noop();
                ids.add(r.runId());
                producer.send(new ProducerRecord<>(Topics.queue(AgentTestInfra.QUEUE), r.runId(),
                        Events.encode(EventEnvelope.of(EventTypes.RUN_REQUESTED, r.runId(), r))));
            }
            producer.commitTransaction();

            await().atMost(60, TimeUnit.SECONDS).until(() -> ids.stream()
                    .allMatch(id -> runs.typesOf(id).contains(EventTypes.RUN_FINISHED)));
            for (String id : ids) {
                List<String> types = runs.typesOf(id);
                assertEquals(1, types.stream().filter(EventTypes.RUN_CLAIMED::equals).count(), id + " " + types);
                assertEquals(1, types.stream().filter(EventTypes.RUN_RUNNING::equals).count(), id + " " + types);
                assertEquals(1, types.stream().filter(EventTypes.RUN_FINISHED::equals).count(), id + " " + types);
            }
            List<String> byClaim = ids.stream().sorted(Comparator.comparing(id -> runs.of(id).stream()
                    .filter(e -> EventTypes.RUN_CLAIMED.equals(e.type())).findFirst().orElseThrow().occurredAt()))
                    .toList();
            assertEquals(ids, byClaim, "claims follow the queue's order");
        }
        assertEquals(1, TopicReader.read(SharedInfra.kafkaBootstrap(), Topics.DEAD_LETTER, bad, 1).size());
        String metrics = given().when().get("/q/metrics").then().statusCode(200).extract().asString();
        Matcher max = Pattern.compile("launch_agent_take_batch_size_max\\{queue=\"" + AgentTestInfra.QUEUE
                + "\"[^}]*} ([\\d.]+)").matcher(metrics);
        assertTrue(max.find(), "no batch size metric");
        assertTrue(Double.parseDouble(max.group(1)) > 1, "the backlog was taken one item at a time");
    }
}
