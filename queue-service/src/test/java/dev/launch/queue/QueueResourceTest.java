package dev.launch.queue;

import dev.launch.common.event.EventEnvelope;
import dev.launch.common.event.EventTypes;
import dev.launch.common.event.Events;
import dev.launch.common.event.Topics;
import dev.launch.common.run.Priority;
import dev.launch.devstack.LaunchTestInfra;
import dev.launch.devstack.SharedInfra;
import dev.launch.devstack.TopicReader;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.common.ResourceArg;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import static io.restassured.RestAssured.given;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

@QuarkusTest
@QuarkusTestResource(value = LaunchTestInfra.class, initArgs = @ResourceArg(name = "database", value = "queues"))
@QuarkusTestResource(FakeJobService.class)
class QueueResourceTest {

    private static String unique(String prefix) {
        return prefix + "-" + UUID.randomUUID().toString().substring(0, 8);
    }

    private static String codeJob(String name) {
        String json = """
                {"name":"%s","version":1,"digest":"sha256:%s",
                 "source":{"type":"code","artifact":"/tmp/x","snapshot":"/tmp/store/x"},
                 "entrypoint":["sh","train.sh"],
                 "inputs":{"schema":{"type":"object","required":["epochs"],
                                     "properties":{"epochs":{"type":"integer","minimum":1},"lr":{"type":"number"}}},
                           "defaults":{"lr":0.1,"epochs":2}},
                 "createdAt":"2026-01-01T00:00:00Z"}""".formatted(name, "a".repeat(64));
        FakeJobService.register(name, 1, json);
        return name;
    }

    private static String createQueue(String body) {
        return given().contentType(ContentType.JSON).body(body).when().post("/api/v1/queues")
                .then().statusCode(201).extract().path("name");
    }

    private static String localQueue(String extra) {
        String name = unique("q");
        return createQueue("{\"name\":\"" + name + "\",\"target\":{\"type\":\"local-process\"}" + extra + "}");
    }

    private static List<ConsumerRecord<String, String>> read(String topic, String key, int atLeast) {
        return TopicReader.read(SharedInfra.kafkaBootstrap(), topic, key, atLeast);
    }

    @Test
    void creatingAQueueCreatesItsSinglePartitionTopic() throws Exception {
        String queue = localQueue(",\"maxAttempts\":3");
        try (Admin admin = Admin.create(Map.of("bootstrap.servers", SharedInfra.kafkaBootstrap()))) {
            var description = admin.describeTopics(List.of(Topics.queue(queue))).allTopicNames()
                    .get(10, TimeUnit.SECONDS).get(Topics.queue(queue));
            assertEquals(1, description.partitions().size());
            var resource = new org.apache.kafka.common.config.ConfigResource(
                    org.apache.kafka.common.config.ConfigResource.Type.TOPIC, Topics.queue(queue));
            var config = admin.describeConfigs(List.of(resource)).all().get(10, TimeUnit.SECONDS).get(resource);
            assertEquals("-1", config.get("retention.ms").value(), "a queue's items wait as long as it takes");

            // a queue topic made earlier without Launch's settings (an older version, or by hand) gets them
            String older = unique("q");
            admin.createTopics(List.of(new org.apache.kafka.clients.admin.NewTopic(Topics.queue(older), 1, (short) 1)))
                    .all().get(10, TimeUnit.SECONDS);
            createQueue("{\"name\":\"" + older + "\",\"target\":{\"type\":\"local-process\"}}");
            var olderTopic = new org.apache.kafka.common.config.ConfigResource(
                    org.apache.kafka.common.config.ConfigResource.Type.TOPIC, Topics.queue(older));
            assertEquals("-1", admin.describeConfigs(List.of(olderTopic)).all().get(10, TimeUnit.SECONDS)
                    .get(olderTopic).get("retention.ms").value(), "an existing queue topic kept past the retention");
        }
        given().when().get("/api/v1/queues/" + queue).then().statusCode(200)
                .body("target.type", is("local-process")).body("maxAttempts", is(3));
        given().contentType(ContentType.JSON).body("{\"name\":\"" + queue + "\",\"target\":{\"type\":\"local-process\"}}")
                .when().post("/api/v1/queues").then().statusCode(409).contentType("application/problem+json");
        given().when().get("/api/v1/queues?limit=500").then().statusCode(200)
                .body("items.name", hasItem(queue));
    }

    private static int enqueueAt(String queue, String job, String priority) {
        return given().contentType(ContentType.JSON)
                .body("{\"job\":\"" + job + "\",\"inputs\":{\"epochs\":1}" + (priority == null ? ""
                        : ",\"priority\":\"" + priority + "\"") + "}")
                .when().post("/api/v1/queues/" + queue + "/runs").then().statusCode(202).extract().path("position");
    }

    @Test
    void aQueueWithPrioritiesKeepsOneTopicPerLevelAndCountsHigherLevelsAhead() throws Exception {
        String queue = localQueue(",\"prioritization\":true");
        try (Admin admin = Admin.create(Map.of("bootstrap.servers", SharedInfra.kafkaBootstrap()))) {
            Set<String> topics = admin.listTopics().names().get(10, TimeUnit.SECONDS);
            for (Priority level : Priority.values()) {
                String topic = Topics.queueLevel(queue, level);
                assertTrue(topics.contains(topic), topic);
                assertEquals(1, admin.describeTopics(List.of(topic)).allTopicNames().get(10, TimeUnit.SECONDS)
                        .get(topic).partitions().size());
            }
            assertFalse(topics.contains(Topics.queue(queue)), "no level-less topic for a queue with priorities");
        }
        String job = codeJob(unique("train"));
        // no agent has taken anything: ahead of a run are its level's earlier runs and all higher-level runs
        assertEquals(0, enqueueAt(queue, job, "low"));
        assertEquals(0, enqueueAt(queue, job, null)); // medium
        assertEquals(0, enqueueAt(queue, job, "critical"));
        assertEquals(3, enqueueAt(queue, job, "low"));
        assertEquals(1, enqueueAt(queue, job, "high"));
        assertEquals(3, enqueueAt(queue, job, "medium"));

        List<ConsumerRecord<String, String>> low = read(Topics.queueLevel(queue, Priority.LOW), null, 2);
        assertEquals(2, low.size());
        assertEquals("low", Events.decode(low.get(0).value()).payload().get("priority").asText());
        assertEquals(2, read(Topics.queueLevel(queue, Priority.MEDIUM), null, 2).size());
        assertEquals(1, read(Topics.queueLevel(queue, Priority.CRITICAL), null, 1).size());

        given().contentType(ContentType.JSON).body("{\"job\":\"" + job + "\",\"inputs\":{\"epochs\":1},"
                        + "\"priority\":\"urgent\"}").when().post("/api/v1/queues/" + queue + "/runs")
                .then().statusCode(400).contentType("application/problem+json")
                .body("errors[0].field", is("priority"))
                .body("errors[0].message", containsString("critical, high, medium, low"));
        given().contentType(ContentType.JSON).body("{\"prioritization\":false}")
                .when().patch("/api/v1/queues/" + queue).then().statusCode(400)
                .body("errors[0].field", is("prioritization"));
        given().when().get("/api/v1/queues/" + queue).then().statusCode(200).body("prioritization", is(true));

        String plain = localQueue("");
        given().contentType(ContentType.JSON).body("{\"job\":\"" + job + "\",\"inputs\":{\"epochs\":1},"
                        + "\"priority\":\"high\"}").when().post("/api/v1/queues/" + plain + "/runs")
                .then().statusCode(400).body("errors[0].field", is("priority"))
                .body("errors[0].message", containsString("does not enable prioritization"));
    }

    @Test
    void queueListsAreFilteredAndPaged() {
        String family = "fam-" + UUID.randomUUID().toString().substring(0, 8);
        createQueue("{\"name\":\"" + family + "-a\",\"target\":{\"type\":\"local-process\"}}");
        createQueue("{\"name\":\"" + family + "-b\",\"target\":{\"type\":\"noop\"},\"prioritization\":true}");
        createQueue("{\"name\":\"" + family + "-c\",\"target\":{\"type\":\"local-process\"},"
                + "\"prioritization\":true}");
        given().when().get("/api/v1/queues?prefix=" + family).then().statusCode(200)
                .body("items.name", contains(family + "-a", family + "-b", family + "-c"));
        given().when().get("/api/v1/queues?prefix=" + family + "&targetType=local-process").then()
                .body("items.name", contains(family + "-a", family + "-c"));
        given().when().get("/api/v1/queues?prefix=" + family + "&prioritization=true&targetType=local-process")
                .then().body("items.name", contains(family + "-c"));
        String next = given().when().get("/api/v1/queues?prefix=" + family + "&limit=2").then()
                .body("items.name", contains(family + "-a", family + "-b")).extract().path("next");
        given().when().get("/api/v1/queues?prefix=" + family + "&limit=2&after=" + next).then()
                .body("items.name", contains(family + "-c")).body("next", nullValue());
        given().when().get("/api/v1/queues?targetType=slurm").then().statusCode(400)
                .body("errors[0].field", is("targetType"));
        given().when().get("/api/v1/queues?prioritization=maybe").then().statusCode(400)
                .body("errors[0].field", is("prioritization"));
    }

    @jakarta.inject.Inject
    io.smallrye.reactive.messaging.kafka.KafkaClientService kafkaClients;

    @Test
    void queueEventsAreProducedWithAcksAllAndIdempotence() {
        Map<String, ?> config = kafkaClients.getProducer("launch-queues").configuration();
        assertEquals("all", String.valueOf(config.get("acks")));
        assertEquals("true", String.valueOf(config.get("enable.idempotence")));
    }

    @Test
    void unsupportedTargetsAndBadQueuesAreRefused() {
        String name = unique("q");
        given().contentType(ContentType.JSON).body("{\"name\":\"" + name + "\",\"target\":{\"type\":\"slurm\"}}")
                .when().post("/api/v1/queues").then().statusCode(400).contentType("application/problem+json")
                .body("errors[0].field", is("target.type")).body("detail", containsString("not a target type"));
        given().contentType(ContentType.JSON).body("{\"name\":\"" + name + "\"}")
                .when().post("/api/v1/queues").then().statusCode(400).body("errors[0].field", is("target.type"));
        given().contentType(ContentType.JSON)
                .body("{\"name\":\"" + name + "\",\"target\":{\"type\":\"local-process\"},"
                        + "\"templateVariables\":{\"gpus\":{\"schema\":{\"type\":\"boolean\"}}}}")
                .when().post("/api/v1/queues").then().statusCode(400)
                .body("errors[0].field", is("templateVariables.gpus.schema.type"));
        // an undeclared variable's example declaration fits its use: text where it is spliced into a string
        given().contentType(ContentType.JSON)
                .body("{\"name\":\"" + name + "\",\"target\":{\"type\":\"local-process\"},"
                        + "\"config\":{\"image\":\"repo/train:{{tag}}\",\"gpus\":\"{{gpus}}\"}}")
                .when().post("/api/v1/queues").then().statusCode(400)
                .body("errors.findAll { it.message.contains('{{tag}}') }[0].message",
                        containsString("\"tag\": {\"schema\": {\"type\": \"string\""))
                .body("errors.findAll { it.message.contains('{{gpus}}') }[0].message",
                        containsString("\"gpus\": {\"schema\": {\"type\": \"integer\""));
        given().contentType(ContentType.JSON)
                .body("{\"name\":\"" + name + "\",\"target\":{\"type\":\"local-process\"},\"prioritization\":\"yes\"}")
                .when().post("/api/v1/queues").then().statusCode(400).contentType("application/problem+json");
        given().contentType(ContentType.JSON).body("{\"name\":\"UPPER\",\"target\":{\"type\":\"local-process\"}}")
                .when().post("/api/v1/queues").then().statusCode(400).body("errors[0].field", is("name"));
        given().when().get("/api/v1/queues/" + name).then().statusCode(404).contentType("application/problem+json");
    }

    @Test
    void anAcceptedRunIsInItsQueueTopicAndAnnouncedOnTheRunsTopic() {
        String queue = localQueue("");
        String job = codeJob(unique("train"));
        // a caller in a trace of its own: with tracing off (the default) nothing of it is passed on
        var accepted = given().contentType(ContentType.JSON)
                .header("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
                .body("{\"job\":\"" + job + ":1\",\"inputs\":{\"epochs\":5},\"args\":[\"--fast\"]}")
                .when().post("/api/v1/queues/" + queue + "/runs")
                .then().statusCode(202).body("state", is("QUEUED")).body("queue", is(queue))
                .body("job", is(job + ":1")).body("position", is(0))
                .extract();
        String runId = accepted.path("runId");
        String token = accepted.path("consistencyToken");
        assertEquals(token, accepted.header("Launch-Consistency"), "the token is also the 202's header");

        List<ConsumerRecord<String, String>> items = read(Topics.queue(queue), runId, 1);
        assertEquals(1, items.size());
        EventEnvelope item = Events.decode(items.get(0).value());
        assertEquals(EventTypes.RUN_REQUESTED, item.type());
        assertEquals(List.of("sh", "train.sh", "--fast"),
                Events.MAPPER.convertValue(item.payload().get("command"), List.class));
        assertEquals(5, item.payload().get("inputs").get("epochs").asInt());
        assertEquals(0.1, item.payload().get("inputs").get("lr").asDouble());
        assertFalse(item.payload().has("traceParent"), "tracing is off by default: " + item.payload());
        assertNull(items.get(0).headers().lastHeader("traceparent"), "tracing is off by default");

        String overridden = given().contentType(ContentType.JSON)
                .body("{\"job\":\"" + job + "\",\"entrypoint\":[\"bash\",\"other.sh\"],\"args\":[\"-v\"],"
                        + "\"inputs\":{\"nested\":{\"a\":1}}}")
                .when().post("/api/v1/queues/" + queue + "/runs").then().statusCode(202).extract().path("runId");
        EventEnvelope second = Events.decode(read(Topics.queue(queue), overridden, 1).get(0).value());
        assertEquals(List.of("bash", "other.sh", "-v"),
                Events.MAPPER.convertValue(second.payload().get("command"), List.class));
        assertEquals(2, second.payload().at("/inputs/epochs").asInt(), "the job's default");
        assertEquals(1, second.payload().at("/inputs/nested/a").asInt());

        List<ConsumerRecord<String, String>> facts = read(Topics.RUNS, runId, 1);
        EventEnvelope queued = Events.decode(facts.get(0).value());
        assertEquals(EventTypes.RUN_QUEUED, queued.type());
        assertEquals(items.get(0).offset(), queued.payload().get("queueOffset").asLong());
        // the consistency token names where the RunQueued is: what the status service waits for (ADR 0004)
        assertEquals("runs:" + facts.get(0).partition() + ":" + facts.get(0).offset(), token);
    }

    @Test
    void templateVariablesAreFilledIntoTheConfigAsTypedValues() {
        String queue = localQueue(",\"config\":{\"resources\":{\"gpus\":\"{{gpus}}\",\"name\":\"gpu-{{gpus}}-{{tier}}\"},"
                + "\"run\":\"${run_id}\"},\"templateVariables\":{"
                + "\"gpus\":{\"schema\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":4},\"default\":1},"
                + "\"tier\":{\"schema\":{\"type\":\"string\",\"enum\":[\"spot\",\"on-demand\"]},\"default\":\"spot\"}}");
        String job = codeJob(unique("tmpl"));
        String runId = given().contentType(ContentType.JSON)
                .body("{\"job\":\"" + job + "\",\"templateVariables\":{\"gpus\":2}}")
                .when().post("/api/v1/queues/" + queue + "/runs").then().statusCode(202).extract().path("runId");
        EventEnvelope item = Events.decode(read(Topics.queue(queue), runId, 1).get(0).value());
        var config = item.payload().get("target").get("config");
        assertEquals(2, config.at("/resources/gpus").asInt());
        assertEquals(true, config.at("/resources/gpus").isInt());
        assertEquals("gpu-2-spot", config.at("/resources/name").asText());
        assertEquals("${run_id}", config.get("run").asText(), "macros are the agent's to expand");

        given().contentType(ContentType.JSON)
                .body("{\"name\":\"" + unique("q") + "\",\"target\":{\"type\":\"local-process\"},"
                        + "\"config\":{\"cpu\":\"{{cpus}}\"}}")
                .when().post("/api/v1/queues").then().statusCode(400).body("errors[0].field", is("config"))
                .body("detail", containsString("{{cpus}}"));
    }

    @Test
    void anUpdatedQueueAppliesToLaterRunsOnly() {
        String queue = localQueue(",\"config\":{\"gpus\":\"{{gpus}}\"},\"templateVariables\":{\"gpus\":"
                + "{\"schema\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":4},\"default\":1}}");
        String job = codeJob(unique("upd"));
        String before = given().contentType(ContentType.JSON).body("{\"job\":\"" + job + "\"}")
                .when().post("/api/v1/queues/" + queue + "/runs").then().statusCode(202).extract().path("runId");
        given().contentType(ContentType.JSON)
                .body("{\"config\":{\"gpus\":\"{{gpus}}\",\"tier\":\"gold\"},\"templateVariables\":{\"gpus\":"
                        + "{\"schema\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":8},\"default\":8}},"
                        + "\"lockdown\":true}")
                .when().patch("/api/v1/queues/" + queue).then().statusCode(200)
                .body("lockdown", is(true)).body("config.tier", is("gold"));
        String after = given().contentType(ContentType.JSON).body("{\"job\":\"" + job + "\"}")
                .when().post("/api/v1/queues/" + queue + "/runs").then().statusCode(202).extract().path("runId");
        List<ConsumerRecord<String, String>> items = read(Topics.queue(queue), null, 2);
        assertEquals(1, Events.decode(items.get(0).value()).payload().at("/target/config/gpus").asInt());
        assertEquals(before, items.get(0).key());
        assertEquals(8, Events.decode(items.get(1).value()).payload().at("/target/config/gpus").asInt());
        assertEquals(after, items.get(1).key());

        given().contentType(ContentType.JSON).body("{\"target\":{\"type\":\"sagemaker\"}}")
                .when().patch("/api/v1/queues/" + queue).then().statusCode(400).body("errors[0].field", is("target"));
        given().contentType(ContentType.JSON).body("{\"config\":{\"cpu\":\"{{cpus}}\"}}")
                .when().patch("/api/v1/queues/" + queue).then().statusCode(400).body("errors[0].field", is("config"));
        given().contentType(ContentType.JSON).body("{\"maxAttempts\":0}")
                .when().patch("/api/v1/queues/" + queue).then().statusCode(400).body("errors[0].field", is("maxAttempts"));
        given().contentType(ContentType.JSON).body("{\"lockdown\":false}")
                .when().patch("/api/v1/queues/no-such-queue").then().statusCode(404);
        given().when().get("/api/v1/queues/" + queue).then().body("config.tier", is("gold"))
                .body("templateVariables.gpus.default", is(8));
    }

    @Test
    void aQueueIsDeletedOnlyWhenNothingRunsOnItUnlessForced() throws Exception {
        String queue = localQueue("");
        String job = codeJob(unique("del"));
        given().contentType(ContentType.JSON).body("{\"job\":\"" + job + "\"}")
                .when().post("/api/v1/queues/" + queue + "/runs").then().statusCode(202);
        given().when().delete("/api/v1/queues/" + queue).then().statusCode(503)
                .contentType("application/problem+json");
        FakeJobService.queueStats(queue, 2, 1);
        given().when().delete("/api/v1/queues/" + queue).then().statusCode(409)
                .body("detail", containsString("2 queued and 1 running"));
        given().when().get("/api/v1/queues/" + queue).then().statusCode(200).body("queued", is(2));
        assertFalse(FakeJobService.stopAllAsked(queue));

        given().when().delete("/api/v1/queues/" + queue + "?force=true").then().statusCode(204);
        assertTrue(FakeJobService.stopAllAsked(queue));
        given().when().get("/api/v1/queues/" + queue).then().statusCode(404);
        try (Admin admin = Admin.create(Map.of("bootstrap.servers", SharedInfra.kafkaBootstrap()))) {
            await().atMost(20, TimeUnit.SECONDS).until(() -> !admin.listTopics().names().get(10, TimeUnit.SECONDS)
                    .contains(Topics.queue(queue)));
        }
        List<ConsumerRecord<String, String>> changes = read(Topics.QUEUES, queue, 2);
        assertEquals(List.of(EventTypes.QUEUE_CREATED, EventTypes.QUEUE_DELETED),
                changes.stream().map(r -> Events.decode(r.value()).type()).toList());

        // the name can be used again, with a fresh topic
        FakeJobService.queueStats(queue, 0, 0);
        createQueue("{\"name\":\"" + queue + "\",\"target\":{\"type\":\"local-process\"}}");
        String runId = given().contentType(ContentType.JSON).body("{\"job\":\"" + job + "\"}")
                .when().post("/api/v1/queues/" + queue + "/runs").then().statusCode(202).extract().path("runId");
        List<ConsumerRecord<String, String>> items = read(Topics.queue(queue), null, 1);
        assertEquals(List.of(runId), items.stream().map(ConsumerRecord::key).toList());
        given().when().delete("/api/v1/queues/" + queue).then().statusCode(204);
        given().when().delete("/api/v1/queues/" + queue).then().statusCode(404);
    }

    @Test
    void aJobCanBeEnqueuedByAlias() {
        String queue = localQueue("");
        String job = codeJob(unique("aliased"));
        FakeJobService.alias(job, "prod", 1);
        given().contentType(ContentType.JSON).body("{\"job\":\"" + job + ":prod\"}")
                .when().post("/api/v1/queues/" + queue + "/runs").then().statusCode(202).body("job", is(job + ":1"));
        given().contentType(ContentType.JSON).body("{\"job\":\"" + job + ":canary\"}")
                .when().post("/api/v1/queues/" + queue + "/runs").then().statusCode(404)
                .body("detail", containsString("'canary'"));
    }

    @Test
    void aRetriedEnqueueWithTheSameIdempotencyKeyReturnsTheOriginalRun() {
        String queue = localQueue("");
        String job = codeJob(unique("idem"));
        String body = "{\"job\":\"" + job + "\",\"idempotencyKey\":\"k-1\"}";
        String first = given().contentType(ContentType.JSON).body(body).when().post("/api/v1/queues/" + queue + "/runs")
                .then().statusCode(202).extract().path("runId");
        given().contentType(ContentType.JSON).body(body).when().post("/api/v1/queues/" + queue + "/runs")
                .then().statusCode(202).body("runId", is(first));
        String second = given().contentType(ContentType.JSON).body("{\"job\":\"" + job + "\"}")
                .when().post("/api/v1/queues/" + queue + "/runs")
                .then().statusCode(202).body("position", is(1)).extract().path("runId");
        List<ConsumerRecord<String, String>> items = read(Topics.queue(queue), null, 2);
        assertEquals(List.of(first, second), items.stream().map(ConsumerRecord::key).toList());
    }

    /** The value of the metric series with exactly these labels (in any order), 0 when there is none. */
    private static double metric(String name, java.util.Map<String, String> labels) {
        String metrics = given().when().get("/q/metrics").then().statusCode(200).extract().asString();
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("(?m)^" + java.util.regex.Pattern.quote(name)
                + "\\{([^}]*)\\} (\\S+)$").matcher(metrics);
        while (m.find()) {
            java.util.Set<String> have = new java.util.HashSet<>(List.of(m.group(1).split(",")));
            java.util.Set<String> want = new java.util.HashSet<>();
            labels.forEach((k, v) -> want.add(k + "=\"" + v + "\""));
            if (have.equals(want)) {
                return Double.parseDouble(m.group(2));
            }
        }
        return 0;
    }

    @Test
    void enqueuesAreCountedPerQueueAndRefusalsPerReasonWithoutASeriesPerUnknownQueue() {
        String queue = localQueue("");
        String job = codeJob(unique("counted"));
        String runs = "/api/v1/queues/" + queue + "/runs";
        String body = "{\"job\":\"" + job + "\",\"idempotencyKey\":\"k-counted\"}";
        given().contentType(ContentType.JSON).body(body).when().post(runs).then().statusCode(202);
        given().contentType(ContentType.JSON).body(body).when().post(runs).then().statusCode(202); // a replay
        given().contentType(ContentType.JSON).body("{\"runs\":[{\"job\":\"" + job + "\"},{\"job\":\"" + job
                + "\"}]}").when().post(runs + ":batch").then().statusCode(202);
        assertEquals(3.0, metric("launch_queue_runs_enqueued_total", java.util.Map.of("queue", queue)));
        given().contentType(ContentType.JSON).body("{\"job\":\"" + job + "\",\"priority\":\"urgent\"}").when()
                .post(runs).then().statusCode(400);
        given().contentType(ContentType.JSON).body("{\"job\":\"no-such-job-" + unique("j") + "\"}").when()
                .post(runs).then().statusCode(404);
        assertEquals(1.0, metric("launch_queue_enqueues_refused_total", java.util.Map.of("queue", queue,
                "reason", "invalid")));
        assertEquals(1.0, metric("launch_queue_enqueues_refused_total", java.util.Map.of("queue", queue,
                "reason", "not-found")));
        double unknownBefore = metric("launch_queue_enqueues_refused_total", java.util.Map.of("queue", "(unknown)",
                "reason", "not-found"));
        String typo = "no-such-queue-" + unique("q");
        given().contentType(ContentType.JSON).body("{\"job\":\"" + job + "\"}").when()
                .post("/api/v1/queues/" + typo + "/runs").then().statusCode(404);
        assertEquals(unknownBefore + 1, metric("launch_queue_enqueues_refused_total", java.util.Map.of(
                "queue", "(unknown)", "reason", "not-found")));
        assertFalse(given().when().get("/q/metrics").then().extract().asString().contains(typo),
                "a queue that does not exist got series of its own");
    }

    @jakarta.inject.Inject
    dev.launch.queue.messaging.EnqueueWriter writer;

    @Test
    void aCommitWhoseAnswerWasLostIsSettledAndAnsweredAsQueuedSoARetryWithTheKeyQueuesItOnce() {
        String queue = localQueue("");
        String job = codeJob(unique("lost"));
        String body = "{\"job\":\"" + job + "\",\"idempotencyKey\":\"k-lost\"}";
        writer.loseCommitAnswers(1);
        String first = given().contentType(ContentType.JSON).body(body).when().post("/api/v1/queues/" + queue + "/runs")
                .then().statusCode(202).extract().path("runId");
        given().contentType(ContentType.JSON).body(body).when().post("/api/v1/queues/" + queue + "/runs")
                .then().statusCode(202).body("runId", is(first));
        // the settled run is in the queue's index of accepted runs too: the next one counts it ahead
        String next = given().contentType(ContentType.JSON).body("{\"job\":\"" + job + "\"}")
                .when().post("/api/v1/queues/" + queue + "/runs").then().statusCode(202).body("position", is(1))
                .extract().path("runId");
        List<ConsumerRecord<String, String>> items = read(Topics.queue(queue), null, 2);
        assertEquals(List.of(first, next), items.stream().map(ConsumerRecord::key).toList(), "queued once");
    }

    @Test
    void invalidRunsAreRefusedAndNothingIsQueued() {
        String queue = localQueue(",\"lockdown\":true,\"templateVariables\":{\"gpus\":{\"schema\":"
                + "{\"type\":\"integer\",\"minimum\":0,\"maximum\":4},\"default\":1}}");
        String job = codeJob(unique("strict"));
        String image = unique("img");
        FakeJobService.register(image, 1, """
                {"name":"%s","version":1,"digest":"sha256:%s","source":{"type":"image","image":"python:3.12"},
                 "entrypoint":[],"createdAt":"2026-01-01T00:00:00Z"}""".formatted(image, "b".repeat(64)));
        String runs = "/api/v1/queues/" + queue + "/runs";
        given().contentType(ContentType.JSON).body("{\"job\":\"" + job + "\",\"inputs\":{\"epochs\":0}}")
                .when().post(runs).then().statusCode(400).contentType("application/problem+json")
                .body("errors[0].field", is("inputs.epochs"));
        given().contentType(ContentType.JSON).body("{\"job\":\"" + job + "\",\"inputs\":{\"epochs\":\"many\"}}")
                .when().post(runs).then().statusCode(400).body("errors[0].field", is("inputs.epochs"));
        given().contentType(ContentType.JSON).body("{\"job\":\"" + job + "\",\"args\":[\"--x\"]}")
                .when().post(runs).then().statusCode(400).body("errors[0].field", is("args"))
                .body("detail", containsString("locked down"));
        given().contentType(ContentType.JSON).body("{\"job\":\"" + job + "\",\"entrypoint\":[\"sh\",\"x.sh\"]}")
                .when().post(runs).then().statusCode(400).body("errors[0].field", is("entrypoint"))
                .body("detail", containsString("locked down"));
        given().contentType(ContentType.JSON).body("{\"job\":\"" + job + "\",\"templateVariables\":{\"gpus\":9}}")
                .when().post(runs).then().statusCode(400).body("errors[0].field", is("templateVariables.gpus"))
                .body("detail", containsString("up to 4"));
        given().contentType(ContentType.JSON).body("{\"job\":\"" + job + "\",\"templateVariables\":{\"cpus\":2}}")
                .when().post(runs).then().statusCode(400).body("errors[0].field", is("templateVariables.cpus"));
        given().contentType(ContentType.JSON).body("{\"job\":\"" + job + "\",\"priority\":\"high\"}")
                .when().post(runs).then().statusCode(400).body("errors[0].field", is("priority"));
        given().contentType(ContentType.JSON).body("{\"job\":\"" + image + "\"}")
                .when().post(runs).then().statusCode(400).body("errors[0].field", is("job"))
                .body("detail", containsString("cannot run image sources"));
        given().contentType(ContentType.JSON).body("{\"job\":\"no-such-job\"}")
                .when().post(runs).then().statusCode(404).contentType("application/problem+json");
        given().contentType(ContentType.JSON).body("{\"job\":\"" + job + ":7\"}")
                .when().post(runs).then().statusCode(404).body("detail", containsString("no version or alias '7'"));
        given().contentType(ContentType.JSON).body("{\"job\":\"" + job + ":Not An Alias\"}")
                .when().post(runs).then().statusCode(400).body("errors[0].field", is("job"));
        given().contentType(ContentType.JSON).body("{\"inputs\":{}}")
                .when().post(runs).then().statusCode(400).body("errors[0].field", is("job"));
        given().contentType(ContentType.JSON).body("{\"job\": 12, ")
                .when().post(runs).then().statusCode(400).contentType("application/problem+json");
        // strict types: a number is not read as the job named by its digits (it was: 404 for job "42")
        given().contentType(ContentType.JSON).body("{\"job\": 42}")
                .when().post(runs).then().statusCode(400).contentType("application/problem+json")
                .body("errors[0].field", is("job")).body("detail", containsString("a string"));
        given().contentType(ContentType.JSON).body("{\"job\":\"" + job + "\",\"args\":\"--x\"}")
                .when().post(runs).then().statusCode(400).body("errors[0].field", is("args"));
        given().contentType(ContentType.JSON).body("{\"job\":\"" + job + "\",\"inputs\":\"epochs=3\"}")
                .when().post(runs).then().statusCode(400).body("errors[0].field", is("inputs"));
        given().contentType(ContentType.JSON).body("{\"job\":\"no-such-job\",\"job\":\"" + job + "\"}")
                .when().post(runs).then().statusCode(400).body("errors[0].field", is("job"))
                .body("detail", containsString("given twice"));
        given().contentType(ContentType.JSON)
                .body("{\"job\":\"" + job + "\",\"templateVariables\":{\"gpus\":1,\"gpus\":2}}")
                .when().post(runs).then().statusCode(400).body("errors[0].field", is("templateVariables.gpus"));
        given().contentType(ContentType.JSON).body("{\"job\":\"" + job + "\"}")
                .when().post("/api/v1/queues/no-such-queue/runs").then().statusCode(404)
                .body("detail", containsString("no-such-queue"));

        // the one valid run lands at offset 0: none of the refused ones was published
        String runId = given().contentType(ContentType.JSON).body("{\"job\":\"" + job + "\"}")
                .when().post(runs).then().statusCode(202).extract().path("runId");
        List<ConsumerRecord<String, String>> items = read(Topics.queue(queue), null, 1);
        assertEquals(1, items.size());
        assertEquals(runId, items.get(0).key());
        assertEquals(0, items.get(0).offset());
    }

    @Test
    void jobVersionsAreCachedAndAVersionOnLaunchJobsIsUsedByTheNextEnqueue() throws Exception {
        String queue = localQueue("");
        String job = unique("cached");
        String runs = "/api/v1/queues/" + queue + "/runs";
        String v1 = publishVersion(job, 1);
        given().contentType(ContentType.JSON).body("{\"job\":\"" + job + "\"}").when().post(runs)
                .then().statusCode(202).body("job", is(job + ":1"));
        // the job service forgets the job: the latest and the exact version are answered from the cache
        FakeJobService.forget(job);
        given().contentType(ContentType.JSON).body("{\"job\":\"" + job + "\"}").when().post(runs)
                .then().statusCode(202).body("job", is(job + ":1"));
        given().contentType(ContentType.JSON).body("{\"job\":\"" + job + ":1\"}").when().post(runs)
                .then().statusCode(202).body("job", is(job + ":1"));
        // a new version, acknowledged on launch.jobs (as the job service does before its 201) while the feed
        // has fallen behind: the very next enqueue of the latest gets it (read barrier), not the cached version
        jobVersions.holdBack(true);
        String v2;
        try {
            v2 = publishVersion(job, 2);
            given().contentType(ContentType.JSON).body("{\"job\":\"" + job + "\"}").when().post(runs)
                    .then().statusCode(202).body("job", is(job + ":2"));
        } finally {
            jobVersions.holdBack(false);
        }
        // aliases move without a record on launch.jobs: asked each time
        FakeJobService.register(job, 1, v1);
        FakeJobService.register(job, 2, v2);
        FakeJobService.alias(job, "prod", 1);
        given().contentType(ContentType.JSON).body("{\"job\":\"" + job + ":prod\"}").when().post(runs)
                .then().statusCode(202).body("job", is(job + ":1"));
        FakeJobService.alias(job, "prod", 2);
        given().contentType(ContentType.JSON).body("{\"job\":\"" + job + ":prod\"}").when().post(runs)
                .then().statusCode(202).body("job", is(job + ":2"));
    }

    @jakarta.inject.Inject
    dev.launch.queue.client.JobVersions jobVersions;

    /** Registers {@code name:version} with the stand-in job service and writes its JobVersionCreated, acknowledged. */
    private static String publishVersion(String name, int version) throws Exception {
        String json = """
                {"name":"%s","version":%d,"digest":"sha256:%s",
                 "source":{"type":"code","artifact":"/tmp/x","snapshot":"/tmp/store/x"},
                 "entrypoint":["sh","train.sh"],"createdAt":"2026-01-01T00:00:00Z"}"""
                .formatted(name, version, Integer.toString(version).repeat(64));
        FakeJobService.register(name, version, json);
        dev.launch.common.job.JobVersion job = Events.MAPPER.readValue(json, dev.launch.common.job.JobVersion.class);
        try (var producer = new org.apache.kafka.clients.producer.KafkaProducer<String, String>(Map.of(
                "bootstrap.servers", SharedInfra.kafkaBootstrap(), "acks", "all"),
                new org.apache.kafka.common.serialization.StringSerializer(),
                new org.apache.kafka.common.serialization.StringSerializer())) {
            producer.send(new org.apache.kafka.clients.producer.ProducerRecord<>(Topics.JOBS, name, Events.encode(
                    EventEnvelope.of(EventTypes.JOB_VERSION_CREATED, name,
                            new dev.launch.common.event.JobVersionCreated(job))))).get(30, TimeUnit.SECONDS);
        }
        return json;
    }

    @jakarta.inject.Inject
    dev.launch.queue.service.EnqueueService enqueueService;

    @Test
    void pastItsLimitOfRunsInTheWorksAnEnqueueIsRefusedAtOnceWith503AndRetryAfter() throws Exception {
        String queue = localQueue("");
        String job = codeJob(unique("capacity"));
        String slow = codeJob(unique("slow"));
        String runs = "/api/v1/queues/" + queue + "/runs";
        FakeJobService.hold(slow);
        int limit = enqueueService.limitInFlight(1);
        try {
            var first = java.util.concurrent.CompletableFuture.supplyAsync(() -> given().contentType(ContentType.JSON)
                    .body("{\"job\":\"" + slow + "\"}").when().post(runs).then().extract().statusCode());
            await().atMost(10, TimeUnit.SECONDS).until(() -> enqueueService.inFlight() == 1);
            given().contentType(ContentType.JSON).body("{\"job\":\"" + job + "\"}").when().post(runs)
                    .then().statusCode(503).contentType("application/problem+json").header("Retry-After", "1")
                    .body("detail", containsString("at capacity")).body("detail", containsString("nothing was queued"));
            given().contentType(ContentType.JSON).body("{\"runs\":[{\"job\":\"" + job + "\"}]}")
                    .when().post(runs + ":batch").then().statusCode(503);
            FakeJobService.release(slow);
            assertEquals(202, first.get(30, TimeUnit.SECONDS), "the run in the works is queued");
            // a request alone is taken whatever its size
            given().contentType(ContentType.JSON).body("{\"runs\":[{\"job\":\"" + job + "\"},{\"job\":\"" + job
                    + "\"}]}").when().post(runs + ":batch").then().statusCode(202);
        } finally {
            FakeJobService.release(slow);
            enqueueService.limitInFlight(limit);
        }
        assertEquals(3, read(Topics.queue(queue), null, 3).size(), "the refused runs were not queued");
        assertEquals(2.0, metric("launch_queue_enqueues_refused_total", java.util.Map.of("queue", queue,
                "reason", "at-capacity")), "the single and the batch refused at capacity");
    }

    @Test
    void whileRecentEnqueuesTookLongerThanTheTargetNewOnesAreRefusedUntilTheWorkInHandIsDone() throws Exception {
        String queue = localQueue("");
        String job = codeJob(unique("latency"));
        String slow = codeJob(unique("slow-many"));
        String runs = "/api/v1/queues/" + queue + "/runs";
        java.time.Duration target = enqueueService.targetLatency(java.time.Duration.ofNanos(1000), 16);
        var clients = java.util.concurrent.Executors.newCachedThreadPool();
        try {
            FakeJobService.hold(slow);
            List<java.util.concurrent.CompletableFuture<Integer>> held = new java.util.ArrayList<>();
            // one that takes more than a microsecond, while another is in the works: the recent latency is past
            // the target from now on
            held.add(java.util.concurrent.CompletableFuture.supplyAsync(() -> given().contentType(ContentType.JSON)
                    .body("{\"job\":\"" + slow + "\"}").when().post(runs).then().extract().statusCode(), clients));
            await().atMost(10, TimeUnit.SECONDS).until(() -> enqueueService.inFlight() == 1);
            given().contentType(ContentType.JSON).body("{\"job\":\"" + job + "\"}").when().post(runs)
                    .then().statusCode(202);
            for (int i = 1; i < 17; i++) { // up to the floor (16 here) requests in the works are always taken
                held.add(java.util.concurrent.CompletableFuture.supplyAsync(() -> given().contentType(ContentType.JSON)
                        .body("{\"job\":\"" + slow + "\"}").when().post(runs).then().extract().statusCode(), clients));
                int expected = i + 1;
                await().atMost(10, TimeUnit.SECONDS).until(() -> enqueueService.inFlight() == expected);
            }
            given().contentType(ContentType.JSON).body("{\"job\":\"" + job + "\"}").when().post(runs)
                    .then().statusCode(503).header("Retry-After", "1")
                    .body("detail", containsString("launch.enqueue.target-latency"));
            FakeJobService.release(slow);
            for (var h : held) {
                assertEquals(202, h.get(30, TimeUnit.SECONDS));
            }
        } finally {
            FakeJobService.release(slow);
            enqueueService.targetLatency(target, 64);
            clients.shutdown();
        }
        assertEquals(18, read(Topics.queue(queue), null, 18).size(), "every run taken was queued, the refused not");
    }

    @Test
    void aBatchIsQueuedInOneTransactionInItsOrderAndAnswersEachRun() {
        String queue = localQueue("");
        String job = codeJob(unique("batch"));
        StringBuilder body = new StringBuilder("{\"runs\":[");
        for (int i = 0; i < 5; i++) {
            body.append(i == 0 ? "" : ",").append("{\"job\":\"").append(job).append("\",\"inputs\":{\"epochs\":")
                    .append(i + 1).append("}}");
        }
        // the colon as curl sends it (rest-assured encodes it elsewhere in these tests: both are taken)
        var answer = given().urlEncodingEnabled(false).contentType(ContentType.JSON).body(body.append("]}").toString())
                .when().post("/api/v1/queues/" + queue + "/runs:batch")
                .then().statusCode(202).body("queue", is(queue)).body("queued", is(5)).body("runs", hasSize(5))
                .body("runs.state", everyItem(is("QUEUED"))).body("runs.job", everyItem(is(job + ":1")))
                .body("runs.position", contains(0, 1, 2, 3, 4)).extract();
        List<String> runIds = answer.path("runs.runId");
        assertEquals(5, Set.copyOf(runIds).size());
        String token = answer.path("consistencyToken");
        assertEquals(token, answer.header("Launch-Consistency"));

        List<ConsumerRecord<String, String>> items = read(Topics.queue(queue), null, 5);
        assertEquals(runIds, items.stream().map(ConsumerRecord::key).toList(), "queued in the batch's order");
        // one transaction: the items are side by side (each commit would have put a marker between them)
        assertEquals(List.of(0L, 1L, 2L, 3L, 4L), items.stream().map(ConsumerRecord::offset).toList());
        for (int i = 0; i < 5; i++) {
            assertEquals(i + 1, Events.decode(items.get(i).value()).payload().at("/inputs/epochs").asInt());
            ConsumerRecord<String, String> fact = read(Topics.RUNS, runIds.get(i), 1).get(0);
            assertEquals(EventTypes.RUN_QUEUED, Events.decode(fact.value()).type());
            String part = "runs:" + fact.partition() + ":";
            long covered = java.util.Arrays.stream(token.split(",")).filter(t -> t.startsWith(part))
                    .mapToLong(t -> Long.parseLong(t.substring(part.length()))).max().orElse(-1);
            assertTrue(covered >= fact.offset(), "the batch's token covers run " + i + "'s RunQueued");
        }
        given().contentType(ContentType.JSON).body("{\"job\":\"" + job + "\"}")
                .when().post("/api/v1/queues/" + queue + "/runs").then().statusCode(202).body("position", is(5));
    }

    @Test
    void anInvalidRunRefusesTheWholeBatchNamingItsPlaceAndNothingIsQueued() {
        String queue = localQueue("");
        String job = codeJob(unique("batch-bad"));
        String batch = "/api/v1/queues/" + queue + "/runs:batch";
        given().contentType(ContentType.JSON).body("{\"runs\":[{\"job\":\"" + job + "\"},"
                        + "{\"job\":\"" + job + "\",\"inputs\":{\"epochs\":0}},{\"job\":\"" + job + "\"},"
                        + "{\"job\":\"no-such-job\"},{\"job\":\"" + job + "\"}]}")
                .when().post(batch).then().statusCode(400).contentType("application/problem+json")
                .body("errors.field", contains("runs[1].inputs.epochs", "runs[3].job"))
                .body("detail", containsString("nothing was queued"))
                .body("detail", containsString("runs[1].inputs.epochs"));
        given().contentType(ContentType.JSON).body("{\"runs\":[{\"job\":\"" + job + "\",\"idempotencyKey\":\"a\"},"
                        + "{\"job\":\"" + job + "\",\"idempotencyKey\":\"a\"}]}")
                .when().post(batch).then().statusCode(400).body("errors[0].field", is("runs[1].idempotencyKey"));
        given().contentType(ContentType.JSON).body("{\"runs\":[]}").when().post(batch).then().statusCode(400)
                .contentType("application/problem+json").body("detail", containsString("1 to 1000 runs"));
        given().contentType(ContentType.JSON).body("{\"runs\":[null]}").when().post(batch).then().statusCode(400)
                .body("errors[0].field", is("runs[0]"));
        String many = "{\"runs\":[" + String.join(",", java.util.Collections.nCopies(1001, "{\"job\":\"" + job
                + "\"}")) + "]}";
        given().contentType(ContentType.JSON).body(many).when().post(batch).then().statusCode(400)
                .body("errors[0].field", is("runs")).body("detail", containsString("1001"));
        given().contentType(ContentType.JSON).body("{\"runs\":[{\"job\":\"" + job + "\"}]}")
                .when().post("/api/v1/queues/no-such-queue/runs:batch").then().statusCode(404);

        String runId = given().contentType(ContentType.JSON).body("{\"job\":\"" + job + "\"}")
                .when().post("/api/v1/queues/" + queue + "/runs").then().statusCode(202).extract().path("runId");
        List<ConsumerRecord<String, String>> items = read(Topics.queue(queue), null, 1);
        assertEquals(List.of(runId), items.stream().map(ConsumerRecord::key).toList(), "no refused run was queued");
        assertEquals(0, items.get(0).offset());
    }

    @Test
    void aBatchRetriedWithTheSameKeysQueuesEachRunOnceAndAnswersTheSameRuns() {
        String queue = localQueue("");
        String job = codeJob(unique("batch-idem"));
        String three = "{\"job\":\"" + job + "\",\"idempotencyKey\":\"b-1\"},{\"job\":\"" + job
                + "\",\"idempotencyKey\":\"b-2\"},{\"job\":\"" + job + "\",\"idempotencyKey\":\"b-3\"}";
        String batch = "/api/v1/queues/" + queue + "/runs:batch";
        List<String> first = given().contentType(ContentType.JSON).body("{\"runs\":[" + three + "]}")
                .when().post(batch).then().statusCode(202).body("queued", is(3)).extract().path("runs.runId");
        // a single enqueue with one of the keys gets that run too
        given().contentType(ContentType.JSON).body("{\"job\":\"" + job + "\",\"idempotencyKey\":\"b-2\"}")
                .when().post("/api/v1/queues/" + queue + "/runs").then().statusCode(202).body("runId", is(first.get(1)));
        List<String> again = given().contentType(ContentType.JSON).body("{\"runs\":[" + three + ",{\"job\":\"" + job
                        + "\",\"idempotencyKey\":\"b-4\"}]}")
                .when().post(batch).then().statusCode(202).body("queued", is(1)).body("runs[3].position", is(3))
                .extract().path("runs.runId");
        assertEquals(first, again.subList(0, 3), "the answered runs are answered again");
        List<ConsumerRecord<String, String>> items = read(Topics.queue(queue), null, 4);
        assertEquals(again, items.stream().map(ConsumerRecord::key).toList(), "each run queued once");
    }

    @Test
    void aLocalContainerQueueTakesWandbLocalContainerArgsAsTheyAreAndSaysWhatItIgnores() {
        String name = unique("lc");
        given().contentType(ContentType.JSON).body("""
                {"name":"%s","target":{"type":"local-container"},
                 "config":{"volume":"/data:/data:ro","gpus":"{{gpus}}","shm_size":"2g","env":["A=1","RUN=${run_id}"],
                           "runtime":"nvidia","rm":true,"builder":{"accelerator":{"base_image":"nvidia/cuda:12.1"}}},
                 "templateVariables":{"gpus":{"schema":{"type":"string","enum":["all","0","1"]},"default":"all"}}}"""
                        .formatted(name))
                .when().post("/api/v1/queues").then().statusCode(201)
                .body("config.shm_size", is("2g"))
                .body("notes", hasItems(containsString("config.builder"), containsString("config.rm is ignored")));
        // it runs images, and code and git jobs (in the agent's base image)
        String image = unique("img");
        FakeJobService.register(image, 1, """
                {"name":"%s","version":1,"digest":"sha256:%s","source":{"type":"image","image":"python:3.12"},
                 "entrypoint":["python","-c","print(1)"],"createdAt":"2026-01-01T00:00:00Z"}""".formatted(image,
                "c".repeat(64)));
        String runId = given().contentType(ContentType.JSON).body("{\"job\":\"" + image + "\",\"templateVariables\":"
                        + "{\"gpus\":\"1\"}}").when().post("/api/v1/queues/" + name + "/runs").then().statusCode(202)
                .extract().path("runId");
        ConsumerRecord<String, String> item = read(Topics.queue(name), runId, 1).get(0);
        var request = Events.decode(item.value()).payloadAs(dev.launch.common.event.RunRequest.class);
        assertEquals("1", request.target().path("config").path("gpus").asText());
        assertEquals("RUN=${run_id}", request.target().path("config").path("env").get(1).asText(),
                "macros are the agent's to fill");
        given().contentType(ContentType.JSON).body("{\"job\":\"" + codeJob(unique("code")) + "\",\"inputs\":"
                + "{\"epochs\":1}}").when().post("/api/v1/queues/" + name + "/runs").then().statusCode(202);
    }

    @Test
    void containerOptionsThatWeakenIsolationAreRefusedByNameUnlessTheQueueAllowsThem() {
        String name = unique("lc");
        String dangerous = """
                {"privileged":true,"cap_add":"SYS_ADMIN","network":"host","pid":"host",
                 "volume":["/:/host","/var/run/docker.sock:/var/run/docker.sock"],"mount":"type=bind,src=/,dst=/h"}""";
        given().contentType(ContentType.JSON)
                .body("{\"name\":\"" + name + "\",\"target\":{\"type\":\"local-container\"},\"config\":" + dangerous + "}")
                .when().post("/api/v1/queues").then().statusCode(400).contentType("application/problem+json")
                .body("errors.field", contains("config.privileged", "config.cap_add", "config.network", "config.pid",
                        "config.volume", "config.volume", "config.mount"))
                .body("errors.find { it.field == 'config.network' }.message", containsString("target.allow"));
        given().when().get("/api/v1/queues/" + name).then().statusCode(404);
        given().contentType(ContentType.JSON)
                .body("{\"name\":\"" + name + "\",\"target\":{\"type\":\"local-container\",\"allow\":[\"privileged\","
                        + "\"cap-add\",\"network=host\",\"pid=host\",\"volume=/\",\"volume=/var/run/docker.sock\",\"mount\"]},"
                        + "\"config\":" + dangerous + "}")
                .when().post("/api/v1/queues").then().statusCode(201);
        given().contentType(ContentType.JSON)
                .body("{\"name\":\"" + unique("lc") + "\",\"target\":{\"type\":\"local-container\",\"allow\":\"all\","
                        + "\"image\":\"x\"}}")
                .when().post("/api/v1/queues").then().statusCode(400)
                .body("errors.field", hasItems("target.allow", "target.image"));
        given().contentType(ContentType.JSON)
                .body("{\"name\":\"" + unique("lp") + "\",\"target\":{\"type\":\"local-process\",\"allow\":[\"x\"]}}")
                .when().post("/api/v1/queues").then().statusCode(400).body("errors[0].field", is("target.allow"));
    }
}
