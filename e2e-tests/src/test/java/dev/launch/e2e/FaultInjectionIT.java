package dev.launch.e2e;

import dev.launch.messaging.TopicAdmin;
import dev.launch.devstack.KafkaBroker;
import dev.launch.devstack.Ports;
import dev.launch.devstack.Postgres;
import io.restassured.http.ContentType;
import io.restassured.path.json.JsonPath;
import org.awaitility.core.ConditionTimeoutException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static io.restassured.RestAssured.given;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.is;
import static org.junit.jupiter.api.Assertions.*;

/**
 * Fault injection against the packaged services on a broker and a PostgreSQL of this class's own (so they can
 * be killed and restarted without disturbing other tests): agents killed at every step of a take, the broker
 * killed and restarted under load, PostgreSQL restarted while runs go on. Every run's process writes a marker
 * file named after its run and attempt, so a launch that happened twice is seen whatever the read model says.
 * Each test prints what it counted; lost and duplicated must be 0.
 *
 * <p>{@code -Dlaunch.soak=true} runs five times as many runs, kills and restarts.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class FaultInjectionIT {
    private static final boolean SOAK = Boolean.getBoolean("launch.soak");
    private static final int SCALE = SOAK ? 5 : 1;
    private static final Set<String> TERMINAL = Set.of("FINISHED", "FAILED", "STOPPED");

    private static Path root;
    private static int kafkaPort;
    private static int controllerPort;
    private static int pgPort;
    private static KafkaBroker broker;
    /**
     * A broker default retention of one second: what Launch keeps must say so on its topics (a topic that does not,
     * and whose segments roll, loses its records in seconds); the default segment size and age mean the topics that
     * keep the default (logs, heartbeats) never roll in a test, so nothing else here is touched by it.
     */
    private static final Map<String, String> BROKER_SETTINGS = Map.of("log.retention.ms", "1000",
            "log.retention.check.interval.ms", "250");
    private static Postgres postgres;
    private static LaunchStack stack;
    private static Path markers;
    private static String job;
    /** services started again by a test (closed at the end; the stack closes the ones it started) */
    private static final List<ServiceProcess> restarted = new ArrayList<>();
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @BeforeAll
    static void start() throws IOException {
        root = Path.of("target", "fault-infra-" + ProcessHandle.current().pid()).toAbsolutePath();
        kafkaPort = Ports.free();
        controllerPort = Ports.free();
        pgPort = Ports.free();
        // data kept across restarts (that is the point); the directory is new for this JVM
        postgres = Postgres.start(root.resolve("postgres"), pgPort, true);
        broker = KafkaBroker.start(root.resolve("kafka"), kafkaPort, controllerPort, Duration.ofSeconds(90),
                BROKER_SETTINGS);
        TopicAdmin.ensureShared(broker.bootstrapServers());
        stack = new LaunchStack(broker.bootstrapServers(), pgPort, Map.of());

        markers = Files.createDirectories(root.resolve("markers"));
        Path code = Files.createTempDirectory("fault-code");
        // the marker is written before anything else: a process that started at all left one
        Files.writeString(code.resolve("work.sh"), """
                touch "%s/$LAUNCH_RUN_ID.$LAUNCH_ATTEMPT.$$"
                sleep "$1"
                echo "done $LAUNCH_RUN_ID attempt $LAUNCH_ATTEMPT"
                """.formatted(markers));
        job = "faulty-" + UUID.randomUUID().toString().substring(0, 8);
        given().baseUri(stack.jobs.url()).contentType(ContentType.JSON)
                .body("{\"name\":\"" + job + "\",\"source\":{\"type\":\"code\",\"artifact\":\"" + code
                        + "\"},\"entrypoint\":[\"sh\",\"work.sh\"]}")
                .when().post("/api/v1/jobs").then().statusCode(201);
    }

    @AfterAll
    static void stop() {
        restarted.forEach(ServiceProcess::close);
        if (stack != null) {
            stack.close();
        }
        if (broker != null) {
            broker.close();
        }
        if (postgres != null) {
            postgres.close();
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // agents killed at every step

    @Test
    @Order(1)
    void agentsKilledAtEveryStepLoseNothingAndLaunchNothingTwice() {
        String queue = queue("kills", 3);
        int runs = 100 * SCALE;
        int wantedKills = 20 * SCALE;
        Random random = new Random(20261129);
        List<String> accepted = new ArrayList<>();
        for (int i = 0; i < runs; i++) {
            accepted.add(enqueue(queue, String.format("%.1f", 0.5 + random.nextInt(16) / 10.0)));
        }
        Map<String, String> crashing = agentSettings("after-claim:0.04,after-take:0.04,before-start:0.04,"
                + "after-start:0.04");
        Map<String, String> healthy = agentSettings(null);
        List<ServiceProcess> live = new ArrayList<>();
        AtomicInteger agentNo = new AtomicInteger();
        Map<String, Integer> killsBy = new TreeMap<>();
        int kills = 0;
        int nextOutsideKillAt = 3;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(300L * SCALE);
        for (int i = 0; i < 3; i++) {
            live.add(stack.startAgent(queue + "-agent-" + agentNo.incrementAndGet(), 2, crashing, queue));
        }
        try {
            while (true) {
                Map<String, Integer> counts = counts(queue);
                int ended = TERMINAL.stream().mapToInt(s -> counts.getOrDefault(s, 0)).sum();
                if (ended == runs) {
                    break;
                }
                if (System.nanoTime() > deadline) {
                    fail("after " + kills + " kills, " + (runs - ended) + " of " + runs + " runs have not ended: "
                            + counts + unended(accepted));
                }
                for (ServiceProcess agent : List.copyOf(live)) {
                    if (!agent.isAlive()) {
                        live.remove(agent);
                        kills++;
                        killsBy.merge(crashPoint(agent), 1, Integer::sum);
                    }
                }
                if (kills < wantedKills && counts.getOrDefault("FINISHED", 0) >= nextOutsideKillAt) {
                    ServiceProcess victim = holderOfARunningRun(queue, live);
                    if (victim != null) {
                        victim.kill();
                        live.remove(victim);
                        kills++;
                        killsBy.merge("kill -9 while running", 1, Integer::sum);
                        nextOutsideKillAt += 4;
                    }
                }
                while (live.size() < 3) {
                    live.add(stack.startAgent(queue + "-agent-" + agentNo.incrementAndGet(), 2,
                            kills < wantedKills ? crashing : healthy, queue));
                }
                int before = ended;
                int agentsBefore = live.size();
                awaitQuietly(Duration.ofSeconds(2), () -> live.stream().filter(ServiceProcess::isAlive).count()
                        < agentsBefore || endedRuns(queue) != before);
            }
        } finally {
            live.forEach(ServiceProcess::close);
        }

        Report report = report(queue, accepted);
        report.print("agent kills: " + kills + " " + killsBy);
        assertTrue(kills >= wantedKills, "only " + kills + " kills happened");
        assertEquals(0, report.lost, report.toString());
        assertEquals(0, report.duplicated, report.toString());
        assertEquals(0, report.unexplained, report.toString());
        assertTrue(report.retried > 0, "no run was retried after its agent died while running it: " + report);
        assertTrue(report.handedBack > 0, "no run was handed back after its agent died before starting it: "
                + report);
    }

    private static String crashPoint(ServiceProcess agent) {
        try {
            return Files.readAllLines(agent.log()).stream().filter(l -> l.startsWith("crash point "))
                    .map(l -> l.substring("crash point ".length(), l.indexOf(':'))).findFirst()
                    .orElse("died by itself");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A live agent that holds a RUNNING run of {@code queue}, or null. */
    private static ServiceProcess holderOfARunningRun(String queue, List<ServiceProcess> live) {
        List<String> holders = given().baseUri(stack.status.url())
                .when().get("/api/v1/runs?queue=" + queue + "&state=RUNNING&limit=50")
                .then().statusCode(200).extract().jsonPath().getList("items.agentId");
        return live.stream().filter(a -> a.isAlive() && holders.contains(a.name())).findFirst().orElse(null);
    }

    // ---------------------------------------------------------------------------------------------------------
    // the broker killed and restarted under load

    @Test
    @Order(2)
    void theBrokerRestartedUnderLoadLosesNoAcceptedRun() throws Exception {
        String queue = queue("broker", 1);
        List<ServiceProcess> agents = twoAgents(queue, 3);
        Load load = new Load(queue);
        try {
            load.start();
            for (int restart = 1; restart <= 3 * SCALE; restart++) {
                int before = load.accepted.size();
                await().atMost(120, TimeUnit.SECONDS).until(() -> load.accepted.size() >= before + 20);
                boolean longOutage = restart % 3 == 2;
                if (restart % 3 == 0) {
                    broker.close(); // SIGTERM: a clean restart
                } else {
                    broker.kill();
                }
                if (longOutage) {
                    // long enough for enqueues to give up: they must answer 503 with Retry-After, not 2xx
                    int unavailable = load.unavailable.get();
                    await().atMost(90, TimeUnit.SECONDS).until(() -> load.unavailable.get() > unavailable);
                }
                broker = KafkaBroker.start(root.resolve("kafka"), kafkaPort, controllerPort, Duration.ofSeconds(90),
                BROKER_SETTINGS);
            }
            int before = load.accepted.size();
            await().atMost(120, TimeUnit.SECONDS).until(() -> load.accepted.size() >= before + 20);
        } finally {
            load.stop();
        }
        try {
            await().atMost(180, TimeUnit.SECONDS).pollInterval(500, TimeUnit.MILLISECONDS)
                    .until(() -> endedRuns(queue) >= load.accepted.size());
        } catch (ConditionTimeoutException e) {
            // the report below says which
        }
        for (ServiceProcess service : List.of(stack.jobs, stack.queues, stack.status)) {
            // a consumer group may still be settling after the last restart: ready again within a bound, and if
            // not, the check that says otherwise is in the message
            await().atMost(60, TimeUnit.SECONDS).pollInterval(500, TimeUnit.MILLISECONDS).untilAsserted(() -> {
                io.restassured.response.Response health = given().baseUri(service.url()).when()
                        .get("/q/health/ready");
                assertEquals(200, health.statusCode(), service.name() + " is not ready after the broker restarts: "
                        + health.body().asString());
            });
        }
        Report report = report(queue, List.copyOf(load.accepted));
        // runs the read model has that no 202 announced: a 503 whose Kafka commit had landed after all
        int phantoms = counts(queue).values().stream().mapToInt(Integer::intValue).sum() - load.accepted.size();
        report.print("broker restarts: " + 3 * SCALE + "; enqueues answered 503: " + load.unavailable.get()
                + " (all with Retry-After: " + (load.withoutRetryAfter.get() == 0) + "), of which queued after all: "
                + phantoms + "; other answers: " + load.unexpected.size()
                + load.unexpected.stream().limit(3).toList());
        agents.forEach(ServiceProcess::close);
        assertTrue(load.unavailable.get() > 0, "no enqueue met the broker down");
        assertEquals(0, load.withoutRetryAfter.get(), "a 503 without Retry-After");
        assertEquals(List.of(), load.unexpected.stream().limit(5).toList(), "answers other than 202 and 503 ("
                + load.unexpected.size() + ")");
        assertEquals(0, report.lost, report.toString());
        assertEquals(0, report.duplicated, report.toString());
        assertEquals(report.accepted, report.finished, report.toString());
    }

    /** Enqueues at about 10 runs/s from a timer, each request on its own thread, until stopped. */
    private static final class Load {
        final String queue;
        final List<String> accepted = Collections.synchronizedList(new ArrayList<>());
        final AtomicInteger unavailable = new AtomicInteger();
        final AtomicInteger withoutRetryAfter = new AtomicInteger();
        final List<String> unexpected = Collections.synchronizedList(new ArrayList<>());
        final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();
        final ExecutorService requests = Executors.newCachedThreadPool();

        Load(String queue) {
            this.queue = queue;
        }

        void start() {
            timer.scheduleAtFixedRate(() -> requests.execute(this::enqueueOne), 0, 100, TimeUnit.MILLISECONDS);
        }

        void enqueueOne() {
            String body = "{\"job\":\"" + job + "\",\"args\":[\"0.2\"],\"idempotencyKey\":\"" + UUID.randomUUID()
                    + "\"}";
            try {
                HttpResponse<String> response = HTTP.send(HttpRequest.newBuilder(URI.create(stack.queues.url()
                                + "/api/v1/queues/" + queue + "/runs")).timeout(Duration.ofSeconds(60))
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                        HttpResponse.BodyHandlers.ofString());
                if (response.statusCode() == 202) {
                    accepted.add(JsonPath.from(response.body()).getString("runId"));
                } else if (response.statusCode() == 503) {
                    unavailable.incrementAndGet();
                    if (response.headers().firstValue("Retry-After").isEmpty()) {
                        withoutRetryAfter.incrementAndGet();
                    }
                } else {
                    unexpected.add(response.statusCode() + " " + response.body());
                }
            } catch (IOException | InterruptedException e) {
                unexpected.add(e.toString());
            }
        }

        void stop() throws InterruptedException {
            timer.shutdownNow();
            requests.shutdown();
            assertTrue(requests.awaitTermination(90, TimeUnit.SECONDS), "enqueue requests still open");
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // the queue service and the status service killed under load

    /**
     * Each writer of Kafka transactions (the queue service's enqueue writer, the status service's move writer) is
     * killed -9 during an enqueue load, and what a crash in the middle of a transaction leaves is made certain: a
     * transaction of the dead instance's id left open on the queue's topic, which blocks every read_committed
     * reader of the queue (the agents) until it is settled. The restarted instance has the same transactional id,
     * fences its predecessor and settles it at once: a run enqueued after the restart is taken within seconds,
     * not after the 120 s transaction timeout. Every 202'd run ends exactly once.
     */
    @Test
    @Order(4)
    void aQueueOrStatusServiceKilledUnderLoadFencesItsPredecessorAndDispatchGoesOn() throws Exception {
        String queue = queue("crash", 1);
        List<ServiceProcess> agents = twoAgents(queue, 3);
        Load load = new Load(queue);
        List<String> probes = new ArrayList<>();
        Map<String, Double> dispatchAfterRestart = new java.util.LinkedHashMap<>();
        try {
            load.start();
            for (ServiceProcess victim : List.of(stack.queues, stack.status)) {
                int before = load.accepted.size();
                await().atMost(120, TimeUnit.SECONDS).until(() -> load.accepted.size() >= before + 20);
                String transactionalId = transactionalIdIn(victim);
                victim.kill();
                try (org.apache.kafka.clients.producer.KafkaProducer<String, String> orphan =
                             openTransaction(transactionalId, dev.launch.common.event.Topics.queue(queue))) {
                    ServiceProcess again = victim.restart();
                    restarted.add(again);
                    again.awaitReady(Duration.ofSeconds(120));
                    long ready = System.nanoTime();
                    String probe = enqueue(queue, "0");
                    probes.add(probe);
                    // a status service just restarted may answer 503 + Retry-After while it catches up with the
                    // facts of its outage (the contract's answer for "too far behind"): asked again until 200
                    await().atMost(20, TimeUnit.SECONDS).pollInterval(Duration.ofMillis(50)).until(() ->
                            stateOrNull(probe) != null && !"QUEUED".equals(stateOrNull(probe)));
                    dispatchAfterRestart.put(victim.name(), (System.nanoTime() - ready) / 1e9);
                    orphan.close(Duration.ZERO);
                }
            }
            int before = load.accepted.size();
            await().atMost(120, TimeUnit.SECONDS).until(() -> load.accepted.size() >= before + 20);
        } finally {
            load.stop();
        }
        List<String> accepted = new ArrayList<>(load.accepted);
        accepted.addAll(probes);
        awaitQuietly(Duration.ofSeconds(180), () -> endedRuns(queue) >= accepted.size());
        Report report = report(queue, accepted);
        report.print("queue and status services killed -9 under load; a run enqueued after each restart was "
                + "taken after (s): " + dispatchAfterRestart);
        agents.forEach(ServiceProcess::close);
        assertEquals(0, report.lost, report.toString());
        assertEquals(0, report.duplicated, report.toString());
        assertEquals(report.accepted, report.finished, report.toString());
    }

    /** The Kafka transactional id the service logged at its (last) start. */
    private static String transactionalIdIn(ServiceProcess service) throws IOException {
        String id = null;
        for (String line : Files.readAllLines(service.log())) {
            int at = line.indexOf("writer transactional id: ");
            if (at >= 0) {
                String rest = line.substring(at + "writer transactional id: ".length());
                int end = rest.indexOf('"'); // a JSON line: the message ends there
                id = (end >= 0 ? rest.substring(0, end) : rest).trim();
            }
        }
        assertNotNull(id, service.name() + " did not log its transactional id");
        return id;
    }

    /** A producer with {@code transactionalId} that has begun a transaction on {@code topic} and not ended it. */
    private static org.apache.kafka.clients.producer.KafkaProducer<String, String> openTransaction(
            String transactionalId, String topic) {
        var producer = new org.apache.kafka.clients.producer.KafkaProducer<String, String>(Map.of(
                "bootstrap.servers", broker.bootstrapServers(), "transactional.id", transactionalId,
                "transaction.timeout.ms", 120_000,
                "key.serializer", org.apache.kafka.common.serialization.StringSerializer.class.getName(),
                "value.serializer", org.apache.kafka.common.serialization.StringSerializer.class.getName()));
        producer.initTransactions();
        producer.beginTransaction();
        producer.send(new org.apache.kafka.clients.producer.ProducerRecord<>(topic, "orphan", "left open by a crash"));
        producer.flush();
        return producer;
    }

    // ---------------------------------------------------------------------------------------------------------
    // a run that waits longer than the broker's retention

    /**
     * A run waits in its queue, with no agent, longer than the broker's default retention (one second here), on
     * a topic whose segments roll every 100 ms: a canary topic made the same way without Launch's settings is
     * seen to lose its first records; the queue keeps its items, and an agent started afterwards launches them all.
     */
    @Test
    @Order(5)
    void aRunThatWaitedLongerThanTheBrokersRetentionIsStillLaunched() throws Exception {
        String queue = queue("retained", 1);
        String canary = "faults-canary-" + UUID.randomUUID().toString().substring(0, 8);
        String topic = dev.launch.common.event.Topics.queue(queue);
        List<String> accepted = new ArrayList<>();
        try (var admin = org.apache.kafka.clients.admin.Admin.create(Map.of("bootstrap.servers",
                (Object) broker.bootstrapServers()));
             var producer = new org.apache.kafka.clients.producer.KafkaProducer<String, String>(Map.of(
                     "bootstrap.servers", broker.bootstrapServers(),
                     "key.serializer", org.apache.kafka.common.serialization.StringSerializer.class.getName(),
                     "value.serializer", org.apache.kafka.common.serialization.StringSerializer.class.getName()))) {
            TopicAdmin.ensure(admin, List.of(new org.apache.kafka.clients.admin.NewTopic(canary, 1, (short) 1)
                    .configs(Map.of("segment.ms", "100"))));
            var resource = new org.apache.kafka.common.config.ConfigResource(
                    org.apache.kafka.common.config.ConfigResource.Type.TOPIC, topic);
            admin.incrementalAlterConfigs(Map.of(resource, List.of(new org.apache.kafka.clients.admin.AlterConfigOp(
                    new org.apache.kafka.clients.admin.ConfigEntry("segment.ms", "100"),
                    org.apache.kafka.clients.admin.AlterConfigOp.OpType.SET)))).all().get(30, TimeUnit.SECONDS);
            accepted.add(enqueue(queue, "0"));
            // each look appends to both topics, so their segments roll and the old ones become deletable
            await().atMost(60, TimeUnit.SECONDS).pollInterval(Duration.ofMillis(300)).until(() -> {
                producer.send(new org.apache.kafka.clients.producer.ProducerRecord<>(canary, "k", "v"))
                        .get(10, TimeUnit.SECONDS);
                accepted.add(enqueue(queue, "0"));
                return earliest(admin, canary) > 0;
            });
            assertEquals(0, earliest(admin, topic), "the queue's topic lost its oldest items to the retention");
        }
        ServiceProcess agent = stack.agent(queue + "-agent", 4, agentSettings(null), queue);
        try {
            await().atMost(120, TimeUnit.SECONDS).pollInterval(Duration.ofMillis(300))
                    .until(() -> endedRuns(queue) >= accepted.size());
            Report report = report(queue, accepted);
            report.print("runs that waited past the broker's retention (" + accepted.size() + ")");
            assertEquals(accepted.size(), report.finished, report.toString());
            assertEquals(0, report.duplicated, report.toString());
        } finally {
            agent.close();
        }
    }

    private static long earliest(org.apache.kafka.clients.admin.Admin admin, String topic) throws Exception {
        var partition = new org.apache.kafka.common.TopicPartition(topic, 0);
        return admin.listOffsets(Map.of(partition, org.apache.kafka.clients.admin.OffsetSpec.earliest()))
                .partitionResult(partition).get(10, TimeUnit.SECONDS).offset();
    }

    // ---------------------------------------------------------------------------------------------------------
    // PostgreSQL restarted while runs go on

    @Test
    @Order(3)
    void postgresRestartedWhileRunsGoOnTheReadModelCatchesUpToTheTruth() throws Exception {
        // maxAttempts 2: were live agents judged lost on the stale heartbeats of the outage, their finished runs
        // would be retried, and the markers would show a second attempt
        String queue = queue("pg", 2);
        List<ServiceProcess> agents = twoAgents(queue, 2);
        List<String> accepted = new ArrayList<>();
        int runs = 30 * SCALE;
        for (int i = 0; i < runs; i++) {
            accepted.add(enqueue(queue, "0.5"));
        }
        await().atMost(60, TimeUnit.SECONDS).until(() -> counts(queue).getOrDefault("FINISHED", 0) >= 3);

        postgres.close();
        // what cannot work without the database says so and queues nothing: an enqueue with an idempotency key
        // (claimed in the queue service's database first). One without a key may still be accepted while the
        // queue service knows the queue and the job (Kafka holds the run; only its position count is off), so
        // the probe carries a key: a probe accepted would be a run this test does not count
        await().atMost(30, TimeUnit.SECONDS).untilAsserted(() -> given().baseUri(stack.status.url())
                .when().get("/q/health/ready").then().statusCode(503));
        await().atMost(30, TimeUnit.SECONDS).untilAsserted(() -> given().baseUri(stack.queues.url())
                .contentType(ContentType.JSON).body("{\"job\":\"" + job + "\",\"args\":[\"0.1\"],"
                        + "\"idempotencyKey\":\"" + UUID.randomUUID() + "\"}")
                .when().post("/api/v1/queues/" + queue + "/runs").then().statusCode(503)
                .header("Retry-After", org.hamcrest.Matchers.notNullValue())
                .contentType("application/problem+json"));
        // the agents go on without it: every run is executed while the read model cannot be written
        await().atMost(120, TimeUnit.SECONDS).pollInterval(200, TimeUnit.MILLISECONDS)
                .until(() -> markersOf(accepted).size() == runs && agents.stream().allMatch(FaultInjectionIT::idle));

        postgres = Postgres.start(root.resolve("postgres"), pgPort, true);
        for (ServiceProcess service : List.of(stack.jobs, stack.queues, stack.status)) {
            service.awaitReady(Duration.ofSeconds(60));
        }
        try {
            await().atMost(120, TimeUnit.SECONDS).pollInterval(200, TimeUnit.MILLISECONDS)
                    .until(() -> counts(queue).getOrDefault("FINISHED", 0) == runs);
        } catch (ConditionTimeoutException e) {
            throw new AssertionError("the read model did not catch up after PostgreSQL came back: counts "
                    + counts(queue) + " of " + runs + " runs; status service threads in "
                    + stack.status.dumpThreads(), e);
        }
        Report report = report(queue, accepted);
        report.print("PostgreSQL restarted while " + runs + " runs went on");
        for (String runId : accepted) {
            JsonPath run = run(runId);
            assertEquals(List.of("QUEUED", "CLAIMED", "STARTING", "RUNNING", "FINISHED"), run.getList("history.state"),
                    runId);
            assertEquals(1, run.getInt("attempt"), runId);
        }
        // the agents view follows the heartbeats of the outage as they are read back; it shows them POLLING once
        // it has caught up (what counts is above: nobody was judged lost, nothing retried)
        await().atMost(30, TimeUnit.SECONDS).pollInterval(200, TimeUnit.MILLISECONDS).untilAsserted(() ->
                given().baseUri(stack.status.url()).when().get("/api/v1/agents?queue=" + queue).then().statusCode(200)
                        .body("items.state", org.hamcrest.Matchers.everyItem(is("POLLING"))));
        // and the queue accepts work again
        String after = enqueue(queue, "0.1");
        await().atMost(60, TimeUnit.SECONDS).until(() -> "FINISHED".equals(run(after).getString("state")));
        agents.forEach(ServiceProcess::close);
        assertEquals(0, report.lost, report.toString());
        assertEquals(0, report.duplicated, report.toString());
        assertEquals(0, report.retried, "a run was retried: an agent was judged lost on stale heartbeats");
    }

    private static boolean idle(ServiceProcess agent) {
        return given().baseUri(agent.url()).when().get("/api/v1/agent").then().extract().jsonPath()
                .getList("runs").isEmpty();
    }

    // ---------------------------------------------------------------------------------------------------------

    /** What happened to the accepted runs, from the read model and the markers their processes left. */
    private record Report(int accepted, int finished, int failedAgent, int lost, int duplicated, int retried,
                          int handedBack, int unexplained, List<String> problems) {
        void print(String what) {
            System.out.printf("%s%n  runs accepted %d, finished %d, failed in stage agent %d, lost %d, "
                            + "duplicated %d; retried %d, handed back %d%s%n", what, accepted, finished, failedAgent,
                    lost, duplicated, retried, handedBack, problems.isEmpty() ? "" : "\n  " + problems);
        }
    }

    private static Report report(String queue, List<String> accepted) {
        Map<String, List<String>> byRunAndAttempt = markersOf(accepted);
        int finished = 0;
        int failedAgent = 0;
        int lost = 0;
        int retried = 0;
        int handedBack = 0;
        int unexplained = 0;
        List<String> problems = new ArrayList<>();
        for (String runId : accepted) {
            var response = given().baseUri(stack.status.url()).when().get("/api/v1/runs/" + runId);
            if (response.statusCode() != 200) {
                lost++;
                problems.add(runId + ": not in the read model");
                continue;
            }
            JsonPath run = response.jsonPath();
            String state = run.getString("state");
            int attempt = run.getInt("attempt");
            List<String> history = run.getList("history.state");
            if (attempt > 1) {
                retried++;
            }
            if (Collections.indexOfSubList(history, List.of("CLAIMED", "QUEUED")) >= 0
                    || Collections.indexOfSubList(history, List.of("STARTING", "QUEUED")) >= 0) {
                handedBack++;
            }
            switch (state) {
                case "FINISHED" -> {
                    finished++;
                    if (!byRunAndAttempt.containsKey(runId + "." + attempt)) {
                        unexplained++;
                        problems.add(runId + ": FINISHED as attempt " + attempt + " but no process of it started");
                    }
                }
                case "FAILED" -> {
                    if ("agent".equals(run.getString("failure.stage"))
                            && run.getString("failure.reason").contains("was lost")) {
                        failedAgent++;
                    } else {
                        unexplained++;
                        problems.add(runId + ": FAILED " + run.getString("failure.stage") + ": "
                                + run.getString("failure.reason"));
                    }
                }
                default -> {
                    lost++;
                    problems.add(runId + ": still " + state + " " + history);
                }
            }
            for (int a = attempt + 1; a <= attempt + 5; a++) {
                if (byRunAndAttempt.containsKey(runId + "." + a)) {
                    unexplained++;
                    problems.add(runId + ": a process of attempt " + a + " ran, the run says attempt " + attempt);
                }
            }
        }
        int duplicated = 0;
        for (Map.Entry<String, List<String>> e : byRunAndAttempt.entrySet()) {
            if (e.getValue().size() > 1) {
                duplicated++;
                problems.add("run.attempt " + e.getKey() + " was launched " + e.getValue().size() + " times");
            }
        }
        return new Report(accepted.size(), finished, failedAgent, lost, duplicated, retried, handedBack, unexplained,
                problems);
    }

    /** {@code runId.attempt} → the pids of the processes that started for it, for the given runs. */
    private static Map<String, List<String>> markersOf(List<String> runs) {
        Set<String> wanted = Set.copyOf(runs);
        try (Stream<Path> files = Files.list(markers)) {
            Map<String, List<String>> found = new HashMap<>();
            files.map(p -> p.getFileName().toString()).forEach(name -> {
                int pid = name.lastIndexOf('.');
                String runAndAttempt = name.substring(0, pid);
                if (wanted.contains(runAndAttempt.substring(0, runAndAttempt.lastIndexOf('.')))) {
                    found.computeIfAbsent(runAndAttempt, k -> new ArrayList<>()).add(name.substring(pid + 1));
                }
            });
            return found;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Two agents without crash points serving {@code queue}, ready. */
    private static List<ServiceProcess> twoAgents(String queue, int maxJobs) {
        return List.of(stack.agent(queue + "-agent-1", maxJobs, agentSettings(null), queue),
                stack.agent(queue + "-agent-2", maxJobs, agentSettings(null), queue));
    }

    private static Map<String, String> agentSettings(String crashPoints) {
        Map<String, String> settings = new HashMap<>();
        settings.put("LAUNCH_AGENT_HEARTBEAT_INTERVAL", "PT1S");
        settings.put("LAUNCH_AGENT_SESSION_TIMEOUT", "PT6S");
        if (crashPoints != null) {
            settings.put("LAUNCH_AGENT_CRASH_POINTS", crashPoints);
        }
        return settings;
    }

    private static String queue(String purpose, int maxAttempts) {
        String name = "faults-" + purpose + "-" + UUID.randomUUID().toString().substring(0, 8);
        given().baseUri(stack.queues.url()).contentType(ContentType.JSON)
                .body("{\"name\":\"" + name + "\",\"target\":{\"type\":\"local-process\"},\"maxAttempts\":"
                        + maxAttempts + "}")
                .when().post("/api/v1/queues").then().statusCode(201);
        return name;
    }

    private static String enqueue(String queue, String seconds) {
        return given().baseUri(stack.queues.url()).contentType(ContentType.JSON)
                .body("{\"job\":\"" + job + "\",\"args\":[\"" + seconds + "\"]}")
                .when().post("/api/v1/queues/" + queue + "/runs").then().statusCode(202).extract().path("runId");
    }

    /** The run's state, or null while the status service answers 503 (behind, with Retry-After). */
    private static String stateOrNull(String runId) {
        io.restassured.response.Response response = given().baseUri(stack.status.url()).when()
                .get("/api/v1/runs/" + runId);
        if (response.statusCode() == 503) {
            assertNotNull(response.header("Retry-After"), "a 503 says when to ask again");
            return null;
        }
        assertEquals(200, response.statusCode(), response.asString());
        return response.jsonPath().getString("state");
    }

    private static JsonPath run(String runId) {
        return given().baseUri(stack.status.url()).when().get("/api/v1/runs/" + runId).then().statusCode(200)
                .extract().jsonPath();
    }

    private static Map<String, Integer> counts(String queue) {
        Map<String, Object> raw = given().baseUri(stack.status.url()).when().get("/api/v1/runs/counts?queue=" + queue)
                .then().statusCode(200).extract().jsonPath().getMap("");
        return raw.entrySet().stream().collect(Collectors.toMap(Map.Entry::getKey,
                e -> ((Number) e.getValue()).intValue()));
    }

    /** For a failure message: the first runs of {@code accepted} that have not ended, and what the logs say. */
    private static String unended(List<String> accepted) {
        StringBuilder out = new StringBuilder();
        int shown = 0;
        for (String runId : accepted) {
            var response = given().baseUri(stack.status.url()).when().get("/api/v1/runs/" + runId);
            String state = response.statusCode() == 200 ? response.jsonPath().getString("state") : "unknown";
            if (!TERMINAL.contains(state) && shown++ < 3) {
                out.append("\nrun ").append(runId).append(" is ").append(state).append(": ")
                        .append(response.asString()).append("\nwhat the logs say about it:\n")
                        .append(LogEvidence.mentioning(runId, 30));
            }
        }
        return out.toString();
    }

    private static int endedRuns(String queue) {
        Map<String, Integer> counts = counts(queue);
        return TERMINAL.stream().mapToInt(s -> counts.getOrDefault(s, 0)).sum();
    }

    /** Waits up to {@code atMost} for {@code condition}; returns either way. */
    private static void awaitQuietly(Duration atMost, java.util.concurrent.Callable<Boolean> condition) {
        try {
            await().atMost(atMost).pollInterval(Duration.ofMillis(100)).until(condition);
        } catch (ConditionTimeoutException e) {
            // nothing changed in time: look again
        }
    }
}
