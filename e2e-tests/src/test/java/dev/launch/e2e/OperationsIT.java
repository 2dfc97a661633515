package dev.launch.e2e;

import dev.launch.devstack.DebianTools;
import dev.launch.devstack.Ports;
import io.restassured.http.ContentType;
import io.restassured.path.json.JsonPath;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static io.restassured.RestAssured.given;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.is;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The operations kit against a running system: {@code ./launch up} and one more {@code ./launch agent}, real
 * Prometheus (Debian's) scraping them through the file-based discovery files {@code ./launch} keeps, with the
 * shipped scrape config and alert rules; a scripted workload (runs finished, one failed, a refused enqueue, an agent
 * killed until LOST, a dead letter); then every dashboard panel query and every metric a rule reads is evaluated
 * through Prometheus' HTTP API and must return series carrying every label the query groups or matches by.
 */
class OperationsIT {
    private final Path root = Path.of(System.getProperty("launch.repo.root", "..")).toAbsolutePath().normalize();
    private final Path state = Path.of("target", "operations-" + UUID.randomUUID().toString().substring(0, 8))
            .toAbsolutePath();
    private final Map<String, String> env = new HashMap<>();
    private String prometheus;

    private Process launch(String... args) throws IOException {
        List<String> command = new ArrayList<>(List.of("bash", root.resolve("launch").toString()));
        command.addAll(List.of(args));
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(state.resolve("launch-" + args[0] + "-" + System.nanoTime() + ".log").toFile());
        builder.environment().putAll(env);
        return builder.start();
    }

    private void launchAndWait(String... args) throws Exception {
        Process p = launch(args);
        assertTrue(p.waitFor(240, TimeUnit.SECONDS), "./launch " + String.join(" ", args) + " hung");
        assertEquals(0, p.exitValue(), "./launch " + String.join(" ", args) + " failed; see " + state);
    }

    /** The shipped scrape config, its discovery files and rules pointed at this stack, scraping every second. */
    private Path prometheusConfig() throws IOException {
        String shipped = Files.readString(root.resolve("deploy/prometheus/prometheus.yml"));
        assertTrue(shipped.contains("../../.launch/prometheus/"), "the shipped config reads ./launch's targets");
        String config = shipped.replace("../../.launch/prometheus/", state.resolve("prometheus") + "/")
                .replace("rules/launch-alerts.yml", root.resolve("deploy/prometheus/rules/launch-alerts.yml").toString())
                .replace("scrape_interval: 15s", "scrape_interval: 1s")
                .replace("evaluation_interval: 15s", "evaluation_interval: 1s");
        Path file = state.resolve("prometheus.yml");
        Files.writeString(file, config);
        return file;
    }

    private JsonPath query(String promql) {
        JsonPath answer = given().baseUri(prometheus).queryParam("query", promql).when().get("/api/v1/query")
                .then().extract().jsonPath();
        assertEquals("success", answer.getString("status"), promql + ": " + answer.prettify());
        return answer;
    }

    private List<Map<String, String>> series(String promql) {
        return query(promql).getList("data.result.metric");
    }

    @Test
    void everyPanelAndRuleReturnsDataFromARunningStack() throws Exception {
        Path promBinary = DebianTools.require("prometheus", "prometheus");
        Files.createDirectories(state);
        int job = Ports.free();
        int queue = Ports.free();
        int status = Ports.free();
        int kafka = Ports.free();
        env.put("LAUNCH_STATE_DIR", state.toString());
        env.put("LAUNCH_JOB_PORT", String.valueOf(job));
        env.put("LAUNCH_QUEUE_PORT", String.valueOf(queue));
        env.put("LAUNCH_AGENT_PORT", String.valueOf(Ports.free()));
        env.put("LAUNCH_STATUS_PORT", String.valueOf(status));
        env.put("LAUNCH_KAFKA_PORT", String.valueOf(kafka));
        env.put("LAUNCH_KAFKA_CONTROLLER_PORT", String.valueOf(Ports.free()));
        env.put("LAUNCH_PG_PORT", String.valueOf(Ports.free()));
        env.put("LAUNCH_AGENT_HEARTBEAT_INTERVAL", "PT1S"); // LOST after 3 s of silence
        env.put("LAUNCH_STATUS_METRICS_INTERVAL", "PT2S");
        String jobs = "http://127.0.0.1:" + job;
        String queues = "http://127.0.0.1:" + queue;
        String runs = "http://127.0.0.1:" + status;
        Process prom = null;
        Process extraAgent = null;
        try {
            launchAndWait("up", "--detach", "--max-jobs", "2");
            int promPort = Ports.free();
            prometheus = "http://127.0.0.1:" + promPort;
            prom = new ProcessBuilder(promBinary.toString(), "--config.file=" + prometheusConfig(),
                    "--storage.tsdb.path=" + state.resolve("tsdb"), "--web.listen-address=127.0.0.1:" + promPort)
                    .redirectErrorStream(true).redirectOutput(state.resolve("prometheus.log").toFile()).start();

            // a second queue served by an agent of its own, started as users start one
            given().baseUri(queues).contentType(ContentType.JSON)
                    .body("{\"name\":\"ops\",\"target\":{\"type\":\"local-process\"}}").when().post("/api/v1/queues")
                    .then().statusCode(201);
            extraAgent = launch("agent", "--queue", "ops", "--max-jobs", "2");
            Path code = Files.createTempDirectory(state, "code");
            Files.writeString(code.resolve("ok.sh"), "echo fine\nsleep 1\n");
            Files.writeString(code.resolve("bad.sh"), "echo broken\nexit 3\n");
            for (String name : List.of("ok", "bad")) {
                given().baseUri(jobs).contentType(ContentType.JSON).body("{\"name\":\"" + name + "\",\"source\":{"
                                + "\"type\":\"code\",\"artifact\":\"" + code + "\"},\"entrypoint\":[\"sh\",\"" + name
                                + ".sh\"]}")
                        .when().post("/api/v1/jobs").then().statusCode(201);
            }
            await().atMost(120, TimeUnit.SECONDS).until(() -> Files.list(state.resolve("prometheus"))
                    .filter(f -> f.getFileName().toString().startsWith("agent-")).count() == 2);
            await().atMost(60, TimeUnit.SECONDS).until(() -> given().baseUri(runs).when()
                    .get("/api/v1/agents?queue=ops").then().extract().jsonPath().getList("items").size() == 1);

            // the workload: runs that finish on both queues, one that fails, a refused enqueue
            List<String> accepted = new ArrayList<>();
            for (String q : List.of("local", "ops", "local", "ops")) {
                accepted.add(given().baseUri(queues).contentType(ContentType.JSON).body("{\"job\":\"ok\"}")
                        .when().post("/api/v1/queues/" + q + "/runs").then().statusCode(202).extract().path("runId"));
            }
            String failing = given().baseUri(queues).contentType(ContentType.JSON).body("{\"job\":\"bad\"}")
                    .when().post("/api/v1/queues/ops/runs").then().statusCode(202).extract().path("runId");
            given().baseUri(queues).contentType(ContentType.JSON).body("{\"job\":\"ok\",\"priority\":\"urgent\"}")
                    .when().post("/api/v1/queues/local/runs").then().statusCode(400);
            for (String runId : accepted) {
                await().atMost(60, TimeUnit.SECONDS).untilAsserted(() -> given().baseUri(runs).when()
                        .get("/api/v1/runs/" + runId).then().body("state", is("FINISHED")));
            }
            await().atMost(60, TimeUnit.SECONDS).untilAsserted(() -> given().baseUri(runs).when()
                    .get("/api/v1/runs/" + failing).then().body("state", is("FAILED")));

            // a record that is not a fact: the status service sets it aside on the dead letters
            try (KafkaProducer<String, String> producer = new KafkaProducer<>(Map.of(
                    "bootstrap.servers", "127.0.0.1:" + kafka, "key.serializer", StringSerializer.class.getName(),
                    "value.serializer", StringSerializer.class.getName()))) {
                producer.send(new ProducerRecord<>("launch.runs", "not-a-run", "{not an event")).get(10,
                        TimeUnit.SECONDS);
            }
            // the extra agent killed: no goodbye, so the status service judges it LOST
            for (ProcessHandle child : extraAgent.descendants().toList()) {
                child.destroyForcibly();
            }
            extraAgent.destroyForcibly();
            await().atMost(60, TimeUnit.SECONDS).until(() -> given().baseUri(runs).when().get("/api/v1/agents?queue=ops")
                    .then().extract().jsonPath().getList("items.state").contains("LOST"));

            // Prometheus sees it all: every target, the rules loaded, and what the workload left
            await().atMost(90, TimeUnit.SECONDS).pollInterval(1, TimeUnit.SECONDS).untilAsserted(() -> {
                assertTrue(series("up{job=\"launch\"} == 1").size() == 3, "services up: " + series("up"));
                assertTrue(!series("launch_agents{state=\"LOST\"} > 0").isEmpty(), "no LOST agent seen");
                assertTrue(!series("launch_dead_letters_total{topic=\"launch.runs\"} > 0").isEmpty(),
                        "no dead letter seen");
                assertTrue(!series("launch_runs_ended_total{outcome=\"failed\"} > 0").isEmpty(), "no failed run");
                assertTrue(!series("launch_agent_heartbeats_total").isEmpty(), "no agent scraped");
            });
            JsonPath rules = given().baseUri(prometheus).when().get("/api/v1/rules").then().extract().jsonPath();
            List<String> loaded = rules.getList("data.groups.rules.flatten().name");
            assertEquals(9, loaded.size(), "rules loaded: " + loaded);
            assertTrue(rules.getList("data.groups.rules.flatten().health").stream().allMatch("ok"::equals),
                    rules.prettify());
            // the alerts the workload should raise are raised
            await().atMost(60, TimeUnit.SECONDS).pollInterval(1, TimeUnit.SECONDS).untilAsserted(() -> {
                List<String> alerts = given().baseUri(prometheus).when().get("/api/v1/alerts").then().extract()
                        .jsonPath().getList("data.alerts.labels.alertname");
                assertTrue(alerts.contains("LaunchAgentLost") && alerts.contains("LaunchDeadLetters"),
                        "alerts: " + alerts);
            });

            List<String> problems = new ArrayList<>();
            int panels = 0;
            for (Path dashboard : dashboards()) {
                JsonPath d = JsonPath.from(dashboard.toFile());
                List<String> exprs = d.getList("panels.targets.flatten().expr");
                for (String expr : exprs) {
                    panels++;
                    String concrete = expr.replace("$__rate_interval", "1m").replace("$queue", ".*");
                    if (series(concrete).isEmpty()) {
                        problems.add(dashboard.getFileName() + ": no series for " + expr);
                    }
                    problems.addAll(labelProblems(dashboard.getFileName() + "", concrete));
                }
            }
            for (String expr : ruleExpressions()) {
                query(expr); // valid as a whole against this Prometheus
                problems.addAll(labelProblems("rule", expr));
            }
            assertEquals(List.of(), problems, panels + " panel queries checked");
        } finally {
            if (extraAgent != null) {
                extraAgent.descendants().forEach(ProcessHandle::destroyForcibly);
                extraAgent.destroyForcibly();
            }
            if (prom != null) {
                prom.destroy();
                prom.waitFor(10, TimeUnit.SECONDS);
            }
            launchAndWait("down");
        }
    }

    /**
     * Every metric selector of the expression must return series, and those series must have every label the
     * expression matches on or groups by ({@link PromQueries}): a panel or rule naming a label the metric lacks is
     * found here.
     */
    private List<String> labelProblems(String where, String expr) {
        List<String> problems = new ArrayList<>();
        for (Map.Entry<String, Set<String>> selector : PromQueries.selectors(expr).entrySet()) {
            List<Map<String, String>> found = series(selector.getKey());
            if (found.isEmpty()) {
                problems.add(where + ": no series for " + selector.getKey() + " (in " + expr + ")");
                continue;
            }
            for (String label : selector.getValue()) {
                if (found.stream().noneMatch(series -> series.containsKey(label))) {
                    problems.add(where + ": " + selector.getKey() + " has no label '" + label + "' (in " + expr + ")");
                }
            }
        }
        return problems;
    }

    private List<Path> dashboards() throws IOException {
        try (Stream<Path> files = Files.list(root.resolve("deploy/grafana/dashboards"))) {
            return files.filter(f -> f.toString().endsWith(".json")).sorted().toList();
        }
    }

    /** The rules' expressions, as Prometheus itself read them. */
    private List<String> ruleExpressions() {
        return given().baseUri(prometheus).when().get("/api/v1/rules").then().extract().jsonPath()
                .getList("data.groups.rules.flatten().query");
    }
}
