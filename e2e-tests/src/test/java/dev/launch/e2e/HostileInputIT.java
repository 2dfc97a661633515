package dev.launch.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.launch.common.event.AgentStatus;
import dev.launch.common.event.EventEnvelope;
import dev.launch.common.event.EventTypes;
import dev.launch.common.event.Events;
import dev.launch.common.event.RunLifecycle;
import dev.launch.common.event.RunLogBatch;
import dev.launch.common.event.Topics;
import dev.launch.common.naming.RunIds;
import dev.launch.devstack.SharedInfra;
import dev.launch.devstack.TopicReader;
import io.restassured.http.ContentType;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

import java.io.InputStream;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

import static io.restassured.RestAssured.given;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The hostile-input suite, on the shared stack: every REST endpoint of the three services and the agent gets at
 * least {@link #TRIES} inputs drawn by {@link Hostile} from a fixed seed (bodies that are a valid body with one part
 * broken, any JSON, no JSON; hostile path segments, query parameters, content types and headers), and every
 * answer must be a 2xx, or a 4xx (a 503 with Retry-After: overload) as {@code application/problem+json} with its
 * status and a title, never a 5xx, a hang or a stack trace. Refused writes leave nothing behind: a refused job or
 * queue does not exist afterwards, and the queue's topic holds exactly the runs whose enqueue was accepted. Then
 * the consumers: undecodable and schema-breaking records on every partition of every topic the services and an
 * agent read, after which the services are ready, the bad records are dead-lettered, and a fact, a log batch
 * and a heartbeat sent after them on each partition are applied, and runs still go through to FINISHED.
 * A failure names the seed and the input, so the input is drawn again by the same seed.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class HostileInputIT {
    private static final long SEED = Long.getLong("launch.hostile.seed", 20261208L);
    private static final int TRIES = Integer.getInteger("launch.hostile.tries", 60);
    /** a bound for the whole REST part: past it, each endpoint stops at its minimum */
    private static final Duration TIME_CAP = Duration.ofSeconds(45);

    private static LaunchStack stack;
    private static HttpClient http;
    private static String job;
    private static String apiQueue;
    private static String agentQueue;
    private static String knownRun;
    private static ServiceProcess agent;
    /** names of jobs and queues whose creation was refused (none may exist afterwards) */
    private static final Set<String> refusedNames = ConcurrentHashMap.newKeySet();
    /** runs whose enqueue on {@link #apiQueue} was accepted */
    private static final Set<String> accepted = ConcurrentHashMap.newKeySet();
    private static int inputs;
    /** the status of the answer before, on whichever connection */
    private static int lastCode;

    private record Endpoint(String service, String method, Function<Hostile, String> path,
                            Function<Hostile, ObjectNode> validBody) {
    }

    @BeforeAll
    static void start() throws Exception {
        stack = LaunchStack.shared();
        http = newClient();
        String suffix = UUID.randomUUID().toString().substring(0, 8);
        Path code = Files.createTempDirectory("e2e-hostile");
        Files.writeString(code.resolve("run.sh"), "echo hostile\n");
        job = "hostile-" + suffix;
        apiQueue = "hostile-api-" + suffix;
        agentQueue = "hostile-agent-" + suffix;
        given().baseUri(stack.jobs.url()).contentType(ContentType.JSON).body("""
                {"name":"%s","source":{"type":"code","artifact":"%s"},"entrypoint":["sh","run.sh"],
                 "inputs":{"schema":{"type":"object","properties":{"epochs":{"type":"integer","maximum":9}}},
                           "defaults":{"epochs":1}}}""".formatted(job, code))
                .when().post("/api/v1/jobs").then().statusCode(201);
        for (String q : List.of(apiQueue, agentQueue)) {
            given().baseUri(stack.queues.url()).contentType(ContentType.JSON).body("""
                    {"name":"%s","target":{"type":"noop"},"config":{"gpus":"{{gpus}}"},
                     "templateVariables":{"gpus":{"schema":{"type":"integer","minimum":0,"maximum":4},"default":1}}}
                    """.formatted(q)).when().post("/api/v1/queues").then().statusCode(201);
        }
        knownRun = given().baseUri(stack.queues.url()).contentType(ContentType.JSON)
                .body("{\"job\":\"" + job + "\"}").when().post("/api/v1/queues/" + apiQueue + "/runs").then()
                .statusCode(202).extract().path("runId");
        accepted.add(knownRun);
        agent = stack.agent("hostile-agent-" + suffix, 4, agentQueue);
    }

    @AfterAll
    static void stop() {
        if (agent != null) {
            agent.close();
        }
        System.out.printf("hostile input: %d inputs tried (seed %d)%n", inputs, SEED);
    }

    private static HttpClient newClient() {
        return HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).version(HttpClient.Version.HTTP_1_1)
                .build();
    }

    private static String enc(String segment) {
        return URLEncoder.encode(segment, StandardCharsets.UTF_8).replace("+", "%20");
    }

    private static ObjectNode json(String text) {
        try {
            return (ObjectNode) Hostile.JSON.readTree(text);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static List<Endpoint> endpoints() {
        String jobs = stack.jobs.url();
        String queues = stack.queues.url();
        String status = stack.status.url();
        Function<Hostile, ObjectNode> none = h -> null;
        return List.of(
                new Endpoint(jobs, "POST", h -> "/api/v1/jobs", h -> json("""
                        {"name":"hostile-%s","source":{"type":"image","image":"python:3.12"},
                         "entrypoint":["python","t.py"],"description":"d",
                         "inputs":{"schema":{"type":"object"},"defaults":{}}}""".formatted(Long.toHexString(
                        h.random.nextLong())))),
                new Endpoint(jobs, "GET", h -> "/api/v1/jobs?prefix=" + enc(h.segment("hostile")) + "&limit="
                        + enc(h.segment("5")) + "&sourceType=" + enc(h.segment("code")) + "&after="
                        + enc(h.segment(job)), none),
                new Endpoint(jobs, "GET", h -> "/api/v1/jobs/" + enc(h.segment(job)), none),
                new Endpoint(jobs, "GET", h -> "/api/v1/jobs/" + enc(h.segment(job)) + "/versions?limit="
                        + enc(h.segment("2")), none),
                new Endpoint(jobs, "GET", h -> "/api/v1/jobs/" + enc(h.segment(job)) + "/versions/"
                        + enc(h.segment("1")), none),
                new Endpoint(jobs, "GET", h -> "/api/v1/jobs/" + enc(h.segment(job)) + "/versions/"
                        + enc(h.segment("latest")) + "/snapshot", none),
                new Endpoint(jobs, "PUT", h -> "/api/v1/jobs/" + enc(h.segment(job)) + "/aliases/"
                        + enc(h.segment("stable")), h -> json("{\"version\":1}")),
                new Endpoint(jobs, "DELETE", h -> "/api/v1/jobs/" + enc(h.segment(job)) + "/aliases/"
                        + enc(h.string()), none),
                new Endpoint(jobs, "POST", h -> "/api/v1/uploads", none),
                new Endpoint(queues, "POST", h -> "/api/v1/queues", h -> json("""
                        {"name":"hostile-%s","target":{"type":"noop"},"config":{"gpus":"{{gpus}}"},
                         "templateVariables":{"gpus":{"schema":{"type":"integer","maximum":4},"default":1}},
                         "prioritization":false,"lockdown":false,"maxAttempts":2,"startTimeout":"PT5M"}"""
                        .formatted(Long.toHexString(h.random.nextLong())))),
                new Endpoint(queues, "GET", h -> "/api/v1/queues?prefix=" + enc(h.segment("hostile")) + "&limit="
                        + enc(h.segment("3")) + "&targetType=" + enc(h.segment("noop")), none),
                new Endpoint(queues, "GET", h -> "/api/v1/queues/" + enc(h.segment(apiQueue)), none),
                // hostile names only: a valid one would change the suite's own queues
                new Endpoint(queues, "PATCH", h -> "/api/v1/queues/" + enc(h.string()),
                        h -> json("{\"config\":{\"gpus\":\"{{gpus}}\"},\"maxAttempts\":1}")),
                new Endpoint(queues, "DELETE", h -> "/api/v1/queues/" + enc(h.string()) + "?force="
                        + enc(h.segment("true")), none),
                new Endpoint(queues, "POST", h -> "/api/v1/queues/" + enc(h.segment(apiQueue)) + "/runs",
                        h -> json("""
                                {"job":"%s","inputs":{"epochs":2},"templateVariables":{"gpus":2},
                                 "idempotencyKey":"k-%s"}""".formatted(job, Long.toHexString(h.random.nextLong())))),
                new Endpoint(queues, "POST", h -> "/api/v1/queues/" + enc(h.segment(apiQueue)) + "/runs:batch",
                        h -> json("""
                                {"runs":[{"job":"%s"},{"job":"%s","inputs":{"epochs":3}}]}""".formatted(job, job))),
                new Endpoint(status, "GET", h -> "/api/v1/runs?queue=" + enc(h.segment(apiQueue)) + "&state="
                        + enc(h.segment("queued,running")) + "&limit=" + enc(h.segment("2")) + "&after="
                        + enc(h.segment(knownRun)) + "&job=" + enc(h.segment(job)), none),
                new Endpoint(status, "GET", h -> "/api/v1/runs/counts?queue=" + enc(h.segment(apiQueue)), none),
                new Endpoint(status, "GET", h -> "/api/v1/runs/" + enc(h.segment(knownRun)), none),
                new Endpoint(status, "GET", h -> "/api/v1/runs/" + enc(h.segment(knownRun)) + "/logs?after="
                        + enc(h.segment("0")) + "&attempt=" + enc(h.segment("1")), none),
                new Endpoint(status, "GET", h -> "/api/v1/runs/" + enc(h.segment(knownRun)) + "/logs/stream?after="
                        + enc(h.segment("0")), none),
                new Endpoint(status, "GET", h -> "/api/v1/runs/" + enc(h.segment(knownRun)) + "/events", none),
                new Endpoint(status, "GET", h -> "/api/v1/runs/changes?queue=" + enc(h.segment(apiQueue)), none),
                // hostile ids only: a valid one would stop or move the suite's own run
                new Endpoint(status, "POST", h -> "/api/v1/runs/" + enc(h.string()) + "/stop", none),
                new Endpoint(status, "PATCH", h -> "/api/v1/runs/" + enc(h.string()),
                        h -> json("{\"priority\":\"high\"}")),
                new Endpoint(status, "GET", h -> "/api/v1/agents?queue=" + enc(h.segment(agentQueue)) + "&state="
                        + enc(h.segment("polling")) + "&limit=" + enc(h.segment("5")), none),
                new Endpoint(status, "GET", h -> "/api/v1/queue-stats?prefix=" + enc(h.segment("hostile")), none),
                new Endpoint(status, "GET", h -> "/api/v1/queue-stats/" + enc(h.segment(apiQueue)), none),
                new Endpoint(status, "POST", h -> "/api/v1/queue-stats/" + enc(h.string()) + "/stop-all", none),
                new Endpoint(agent.url(), "GET", h -> "/api/v1/agent?" + enc(h.string()) + "=" + enc(h.string()),
                        none),
                new Endpoint(agent.url(), "GET", h -> "/api/v1/agent/" + enc(h.string()), none),
                new Endpoint(agent.url(), "POST", h -> "/api/v1/agent", h -> json("{\"stop\":true}")));
    }

    @Test
    @Order(1)
    void everyEndpointAnswersHostileInputWithA2xxOrAProblemAndNeverA5xxAHangOrAStackTrace() throws Exception {
        List<Endpoint> endpoints = endpoints();
        long deadline = System.nanoTime() + TIME_CAP.toNanos();
        List<String> failures = new ArrayList<>();
        for (int e = 0; e < endpoints.size(); e++) {
            Endpoint endpoint = endpoints.get(e);
            for (int t = 0; t < TRIES * 3 && (t < TRIES || System.nanoTime() < deadline); t++) {
                Hostile h = new Hostile(SEED * 1_000_003L + e * 10_007L + t);
                String failure = tryOnce(endpoint, h);
                inputs++;
                if (failure != null) {
                    failures.add(failure + " [seed " + h.seed + ", endpoint " + e + ", try " + t + "]");
                }
                if (t >= TRIES && System.nanoTime() >= deadline) {
                    break;
                }
            }
        }
        System.out.printf("hostile input: %d inputs over %d endpoints%n", inputs, endpoints.size());
        if (!failures.isEmpty()) {
            Files.write(Path.of("target", "hostile-failures.txt"), failures);
            fail(failures.size() + " hostile inputs were answered wrongly (all in target/hostile-failures.txt); the first:\n"
                    + String.join("\n", failures.subList(0, Math.min(15, failures.size()))));
        }
    }

    /** One input to one endpoint; null when it was answered well, else what was wrong. */
    private static String tryOnce(Endpoint endpoint, Hostile h) throws Exception {
        String path = endpoint.path().apply(h);
        ObjectNode valid = endpoint.validBody().apply(h);
        HttpRequest.BodyPublisher publisher = HttpRequest.BodyPublishers.noBody();
        String contentType = null;
        String shown = "";
        if (valid != null || endpoint.method().equals("POST") || endpoint.method().equals("PATCH")) {
            if (valid == null || h.random.nextInt(8) == 0) {
                byte[] bytes = h.bytes();
                publisher = HttpRequest.BodyPublishers.ofByteArray(bytes);
                contentType = h.random.nextBoolean() ? "application/gzip" : h.contentType();
                shown = bytes.length + " random bytes";
            } else {
                String body = h.body(valid);
                publisher = HttpRequest.BodyPublishers.ofByteArray(Hostile.utf8(body));
                contentType = h.random.nextInt(10) == 0 ? h.contentType() : "application/json";
                shown = body.length() > 300 ? body.substring(0, 300) + "… (" + body.length() + " chars)" : body;
                rememberName(body);
            }
        }
        HttpRequest.Builder request;
        try {
            request = HttpRequest.newBuilder(URI.create(endpoint.service() + path)).timeout(Duration.ofSeconds(15))
                    .method(endpoint.method(), publisher);
        } catch (IllegalArgumentException e) {
            return null; // not a request a client can send (the URI itself is refused by the client)
        }
        if (contentType != null) {
            request.header("Content-Type", contentType);
        }
        h.headers().forEach((name, value) -> {
            try {
                request.header(name, value);
            } catch (IllegalArgumentException e) {
                // a header the client refuses to send: not an input the service can get from it
            }
        });
        String what = endpoint.method() + " " + path + " " + shown;
        HttpResponse<InputStream> response;
        try {
            try {
                response = http.send(request.build(), HttpResponse.BodyHandlers.ofInputStream());
            } catch (java.net.http.HttpTimeoutException e) {
                throw e;
            } catch (java.io.IOException e) {
                // the server closes a connection after refusing a request line or headers past its limits (414,
                // 431) without saying so, and the client may send the next request on it: once more, on a new one
                if (lastCode != 414 && lastCode != 431) {
                    throw e;
                }
                http = newClient();
                response = http.send(request.build(), HttpResponse.BodyHandlers.ofInputStream());
            }
        } catch (java.net.http.HttpTimeoutException e) {
            return "no answer within 15 s (a hang): " + what;
        } catch (java.io.IOException e) {
            return "the connection ended without an answer (" + e.getMessage() + "): " + what;
        }
        int code = response.statusCode();
        lastCode = code;
        String type = response.headers().firstValue("Content-Type").orElse("");
        String body;
        try (InputStream in = response.body()) {
            if (type.startsWith("text/event-stream")) {
                body = ""; // a stream opened: its events are the other tests' business
            } else {
                body = new String(in.readNBytes(1 << 20), StandardCharsets.UTF_8);
            }
        }
        if (endpoint.method().equals("POST") && path.startsWith("/api/v1/queues/" + apiQueue + "/runs")
                && code / 100 == 2) {
            rememberAccepted(body);
        }
        if ((code == 414 || code == 431) && body.isEmpty()) {
            // the HTTP server's own refusal of a request line or headers past its limits, before any service
            // code: a bodyless standard status (Vert.x answers these itself)
            return null;
        }
        if (code >= 500 && !(code == 503 && response.headers().firstValue("Retry-After").isPresent())) {
            return "answered " + code + ": " + what + " -> " + abbreviate(body);
        }
        if (body.contains("\tat ") || body.contains("Exception:") || body.contains("Caused by")
                || body.matches("(?s).*\\b(java|dev\\.launch|io\\.quarkus|io\\.vertx)\\.[a-z]+\\.[A-Za-z.]+.*")) {
            return "answered with a stack trace or class names: " + what + " -> " + abbreviate(body);
        }
        if (code >= 400) {
            if (!type.startsWith("application/problem+json")) {
                return "answered " + code + " as " + type + ", not application/problem+json: " + what + " -> "
                        + abbreviate(body);
            }
            JsonNode problem;
            try {
                problem = Hostile.JSON.readTree(body);
            } catch (Exception e) {
                return "answered " + code + " with a problem that is no JSON: " + what + " -> " + abbreviate(body);
            }
            if (problem.path("status").asInt() != code || problem.path("title").asText().isBlank()) {
                return "answered " + code + " with a problem without its status and title: " + what + " -> "
                        + abbreviate(body);
            }
        }
        return null;
    }

    private static String abbreviate(String text) {
        return text.length() > 400 ? text.substring(0, 400) + "…" : text;
    }

    /** A create's name, when the body has one: it must not exist afterwards unless the create was accepted. */
    private static void rememberName(String body) {
        try {
            JsonNode name = Hostile.JSON.readTree(body).path("name");
            if (name.isTextual() && name.asText().startsWith("hostile-")) {
                refusedNames.add(name.asText());
            }
        } catch (Exception e) {
            // no JSON: no name
        }
    }

    private static void rememberAccepted(String body) {
        try {
            JsonNode answer = Hostile.JSON.readTree(body);
            if (answer.hasNonNull("runId")) {
                accepted.add(answer.get("runId").asText());
            }
            for (JsonNode run : answer.path("runs")) {
                if (run.hasNonNull("runId")) {
                    accepted.add(run.get("runId").asText());
                }
            }
        } catch (Exception e) {
            throw new AssertionError("a 2xx enqueue answered no JSON: " + body, e);
        }
    }

    @Test
    @Order(2)
    void refusedWritesLeftNothingBehind() throws Exception {
        // a named create was either refused, and left nothing, or held whole: a queue with its topic, a job
        // with its version on launch.jobs
        int created = 0;
        Set<String> topics;
        try (org.apache.kafka.clients.admin.Admin admin = org.apache.kafka.clients.admin.Admin.create(Map.of(
                "bootstrap.servers", SharedInfra.kafkaBootstrap()))) {
            topics = admin.listTopics().names().get(30, TimeUnit.SECONDS);
        }
        for (String name : refusedNames) {
            int jobStatus = given().baseUri(stack.jobs.url()).when().get("/api/v1/jobs/" + enc(name)).statusCode();
            int queueStatus = given().baseUri(stack.queues.url()).when().get("/api/v1/queues/" + enc(name))
                    .statusCode();
            assertTrue(jobStatus == 200 || jobStatus == 404 || jobStatus == 400, name + ": " + jobStatus);
            assertTrue(queueStatus == 200 || queueStatus == 404 || queueStatus == 400, name + ": " + queueStatus);
            if (queueStatus == 200) {
                created++;
                assertTrue(topics.contains(Topics.queue(name)), "queue " + name + " exists without its topic");
            }
            if (jobStatus == 200) {
                created++;
                assertEquals(1, TopicReader.read(SharedInfra.kafkaBootstrap(), Topics.JOBS, name, 1).size(),
                        "job " + name + " exists without its event");
            }
        }
        // the queue's topic holds the accepted runs and nothing else
        await().atMost(30, TimeUnit.SECONDS).untilAsserted(() -> {
            Set<String> onTopic = new HashSet<>();
            TopicReader.read(SharedInfra.kafkaBootstrap(), Topics.queue(apiQueue), null, accepted.size())
                    .forEach(r -> onTopic.add(r.key()));
            assertEquals(accepted, onTopic, "the items of " + apiQueue + " are the runs whose enqueue was accepted");
        });
        // and the read model knows each of them
        for (String run : accepted) {
            await().atMost(30, TimeUnit.SECONDS).until(() -> given().baseUri(stack.status.url()).when()
                    .get("/api/v1/runs/" + run).statusCode() == 200);
        }
        System.out.printf("hostile input: %d runs accepted, %d of %d named creates held, whole%n", accepted.size(),
                created, refusedNames.size());
    }

    @Test
    @Order(3)
    void hostileRecordsOnEveryTopicAreDeadLetteredOrIgnoredAndWhatFollowsThemIsApplied() throws Exception {
        Map<String, Double> deadBefore = deadLetters();
        int sent = 0;
        List<String> topics = List.of(Topics.RUNS, Topics.RUN_LOGS, Topics.AGENTS, Topics.RUN_COMMANDS, Topics.JOBS,
                Topics.QUEUES, Topics.queue(agentQueue));
        try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(Map.of(
                "bootstrap.servers", SharedInfra.kafkaBootstrap(), "acks", "all",
                "key.serializer", StringSerializer.class, "value.serializer", ByteArraySerializer.class))) {
            for (String topic : topics) {
                int partitions = producer.partitionsFor(topic).size();
                for (int p = 0; p < partitions; p++) {
                    for (int t = 0; t < 12; t++) {
                        Hostile h = new Hostile(SEED + topic.hashCode() * 31L + p * 101L + t);
                        // compacted topics take no record without a key
                        boolean compacted = topic.equals(Topics.JOBS) || topic.equals(Topics.QUEUES);
                        producer.send(new ProducerRecord<>(topic, p,
                                compacted || h.random.nextBoolean() ? "hostile-" + h.string() : null,
                                hostileRecord(h, topic)));
                        sent++;
                    }
                }
            }
            producer.flush();
        }
        inputs += sent;
        System.out.printf("hostile input: %d records on %d topics%n", sent, topics.size());
        // what follows them on each partition is applied: a run's facts and logs, an agent's heartbeat
        List<String> sentinels = new ArrayList<>();
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(Map.of(
                "bootstrap.servers", SharedInfra.kafkaBootstrap(), "acks", "all",
                "key.serializer", StringSerializer.class, "value.serializer", StringSerializer.class))) {
            int runPartitions = producer.partitionsFor(Topics.RUNS).size();
            String sentinelQueue = "hostile-sentinels-" + UUID.randomUUID().toString().substring(0, 8);
            for (int p = 0; p < runPartitions; p++) {
                String run = RunIds.next();
                sentinels.add(run);
                producer.send(new ProducerRecord<>(Topics.RUNS, p, run, Events.encode(EventEnvelope.of(
                        EventTypes.RUN_QUEUED, run, new RunLifecycle(run, sentinelQueue, job, 1, 1, null, null, null,
                                null, null, null, (long) p, null, Instant.now(), null, null)))));
                producer.send(new ProducerRecord<>(Topics.RUN_LOGS, p, run, Events.encode(EventEnvelope.of(
                        EventTypes.RUN_OUTPUT_LOGGED, run, new RunLogBatch(run, 1, "hostile", 0, List.of(
                                new RunLogBatch.Line("stdout", Instant.now(), "after the hostile records")))))));
            }
            int agentPartitions = producer.partitionsFor(Topics.AGENTS).size();
            for (int p = 0; p < agentPartitions; p++) {
                String id = "hostile-sentinel-" + p + "-" + UUID.randomUUID();
                sentinels.add(id);
                producer.send(new ProducerRecord<>(Topics.AGENTS, p, id, Events.encode(EventEnvelope.of(
                        EventTypes.AGENT_HEARTBEAT, id, new AgentStatus(id, List.of(agentQueue), 1, List.of(), "h", 1,
                                60_000, Instant.now())))));
            }
            producer.flush();
        }
        for (String sentinel : sentinels) {
            if (sentinel.startsWith("hostile-sentinel-")) {
                await().atMost(60, TimeUnit.SECONDS).until(() -> given().baseUri(stack.status.url())
                        .when().get("/api/v1/agents?limit=500&queue=" + agentQueue).then().extract()
                        .<List<String>>path("items.agentId").contains(sentinel));
            } else {
                await().atMost(60, TimeUnit.SECONDS).until(() -> given().baseUri(stack.status.url())
                        .when().get("/api/v1/runs/" + sentinel + "/logs").then().extract().asString()
                        .equals("after the hostile records\n"));
            }
        }
        // every service is ready, and runs still go through the agent, its readers and the status service
        for (ServiceProcess service : List.of(stack.jobs, stack.queues, stack.status)) {
            given().baseUri(service.url()).when().get("/q/health/ready").then().statusCode(200);
        }
        List<String> runs = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            runs.add(given().baseUri(stack.queues.url()).contentType(ContentType.JSON)
                    .body("{\"job\":\"" + job + "\"}").when().post("/api/v1/queues/" + agentQueue + "/runs").then()
                    .statusCode(202).extract().path("runId"));
        }
        for (String run : runs) {
            await().atMost(60, TimeUnit.SECONDS).until(() -> "FINISHED".equals(given().baseUri(stack.status.url())
                    .when().get("/api/v1/runs/" + run).then().extract().path("state")));
        }
        Map<String, Double> deadAfter = deadLetters();
        for (String topic : List.of(Topics.RUNS, Topics.RUN_LOGS, Topics.AGENTS)) {
            assertTrue(deadAfter.getOrDefault(topic, 0.0) > deadBefore.getOrDefault(topic, 0.0),
                    "the status service dead-lettered records of " + topic + ": " + deadBefore + " -> " + deadAfter);
        }
    }

    /**
     * A record that is no valid event of its topic: bytes, any JSON, an envelope of an unknown type or version,
     * or an envelope of the topic's own type whose payload has one part broken.
     */
    private static byte[] hostileRecord(Hostile h, String topic) {
        return switch (h.random.nextInt(5)) {
            case 0 -> h.bytes();
            case 1 -> Hostile.utf8(h.value(3).toString());
            case 2 -> Hostile.utf8("{\"eventId\":\"" + UUID.randomUUID() + "\",\"type\":" + h.value(0)
                    + ",\"schemaVersion\":" + h.value(0) + ",\"occurredAt\":\"2026-01-01T00:00:00Z\",\"subject\":"
                    + h.value(0) + ",\"payload\":" + h.value(2) + "}");
            default -> {
                String type = switch (topic) {
                    case Topics.RUNS -> EventTypes.RUN_CLAIMED;
                    case Topics.RUN_LOGS -> EventTypes.RUN_OUTPUT_LOGGED;
                    case Topics.AGENTS -> EventTypes.AGENT_HEARTBEAT;
                    case Topics.RUN_COMMANDS -> EventTypes.STOP_RUN;
                    case Topics.JOBS -> EventTypes.JOB_VERSION_CREATED;
                    case Topics.QUEUES -> "QueueUpdated";
                    default -> EventTypes.RUN_REQUESTED;
                };
                // about no queue of the suite's: a broken definition of a real queue is the queue service's to refuse
                ObjectNode payload = json("{\"runId\":\"" + RunIds.next() + "\",\"queue\":\"hostile-nowhere\","
                        + "\"agentId\":\"a\",\"attempt\":1,\"lines\":[],\"name\":\"hostile-nowhere\"}");
                String text = "{\"eventId\":\"" + UUID.randomUUID() + "\",\"type\":\"" + type
                        + "\",\"schemaVersion\":1,\"occurredAt\":\"2026-01-01T00:00:00Z\",\"subject\":\"s\","
                        + "\"payload\":" + h.body(payload) + "}";
                yield Hostile.utf8(text);
            }
        };
    }

    /** {@code launch_dead_letters_total} of the status service, by topic (a line may end in an exemplar). */
    private static Map<String, Double> deadLetters() {
        String metrics = given().baseUri(stack.status.url()).when().get("/q/metrics").then().statusCode(200)
                .extract().asString();
        Map<String, Double> values = new java.util.TreeMap<>();
        java.util.regex.Matcher m = java.util.regex.Pattern.compile(
                "^launch_dead_letters_total\\{[^}]*topic=\"([^\"]+)\"[^}]*\\}\\s+([0-9.eE+-]+)(\\s+#.*)?$",
                java.util.regex.Pattern.MULTILINE).matcher(metrics);
        while (m.find()) {
            values.merge(m.group(1), Double.parseDouble(m.group(2)), Double::sum);
        }
        return values;
    }
}
