package dev.launch.e2e;

import dev.launch.devstack.Ports;
import io.restassured.http.ContentType;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static io.restassured.RestAssured.given;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.is;
import static org.junit.jupiter.api.Assertions.*;

/** {@code ./launch up --detach} as a user runs it, a run on the {@code local} queue, and {@code ./launch down}. */
class LaunchScriptIT {
    private final Path root = Path.of(System.getProperty("launch.repo.root", "..")).toAbsolutePath().normalize();
    private final Path state = Path.of("target", "launch-script-" + UUID.randomUUID().toString().substring(0, 8))
            .toAbsolutePath();
    private final Map<String, String> env = new HashMap<>();

    private String launch(String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of("bash", root.resolve("launch").toString()));
        command.addAll(List.of(args));
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
        builder.environment().putAll(env);
        Process process = builder.start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(process.waitFor(240, TimeUnit.SECONDS), "./launch " + String.join(" ", args) + " hung");
        assertEquals(0, process.exitValue(), output);
        return output;
    }

    private List<Long> recordedPids() throws IOException {
        List<Long> pids = new ArrayList<>();
        Path dir = state.resolve("pids");
        if (Files.isDirectory(dir)) {
            try (Stream<Path> files = Files.list(dir)) {
                for (Path f : files.toList()) {
                    pids.add(Long.parseLong(Files.readString(f).trim()));
                }
            }
        }
        return pids;
    }

    private List<ProcessHandle> processesMentioningState() {
        return ProcessHandle.allProcesses()
                .filter(p -> p.info().commandLine().map(c -> c.contains(state.toString())).orElse(false))
                .toList();
    }

    @Test
    void upDetachRunsTheLocalQueueAndDownLeavesNothingRunning() throws Exception {
        int job = Ports.free();
        int queue = Ports.free();
        int status = Ports.free();
        env.put("LAUNCH_STATE_DIR", state.toString());
        env.put("LAUNCH_JOB_PORT", String.valueOf(job));
        env.put("LAUNCH_QUEUE_PORT", String.valueOf(queue));
        env.put("LAUNCH_AGENT_PORT", String.valueOf(Ports.free()));
        env.put("LAUNCH_STATUS_PORT", String.valueOf(status));
        env.put("LAUNCH_KAFKA_PORT", String.valueOf(Ports.free()));
        env.put("LAUNCH_KAFKA_CONTROLLER_PORT", String.valueOf(Ports.free()));
        env.put("LAUNCH_PG_PORT", String.valueOf(Ports.free()));
        long sleeperPid = -1;
        try {
            String up = launch("up", "--detach");
            assertTrue(up.contains("Launch is up"), up);
            assertTrue(up.contains("http://127.0.0.1:" + queue), up);

            Path code = Files.createTempDirectory("launch-script-code");
            Files.writeString(code.resolve("sleep.sh"), "echo \"pid $$\"\nsleep 300\n");
            given().baseUri("http://127.0.0.1:" + job).contentType(ContentType.JSON)
                    .body("{\"name\":\"sleeper\",\"source\":{\"type\":\"code\",\"artifact\":\"" + code
                            + "\"},\"entrypoint\":[\"sh\",\"sleep.sh\"]}")
                    .when().post("/api/v1/jobs").then().statusCode(201);
            String runId = given().baseUri("http://127.0.0.1:" + queue).contentType(ContentType.JSON)
                    .body("{\"job\":\"sleeper\"}").when().post("/api/v1/queues/local/runs")
                    .then().statusCode(202).extract().path("runId");
            await().atMost(60, TimeUnit.SECONDS).untilAsserted(() -> given().baseUri("http://127.0.0.1:" + status)
                    .when().get("/api/v1/runs/" + runId).then().statusCode(200).body("state", is("RUNNING")));
            await().atMost(30, TimeUnit.SECONDS).until(() -> given().baseUri("http://127.0.0.1:" + status)
                    .when().get("/api/v1/runs/" + runId + "/logs").then().extract().asString().contains("pid "));
            String log = given().baseUri("http://127.0.0.1:" + status).when().get("/api/v1/runs/" + runId + "/logs")
                    .then().extract().asString();
            sleeperPid = Long.parseLong(log.substring(log.indexOf("pid ") + 4).trim().split("\\s")[0]);
            List<Long> started = recordedPids();
            assertEquals(5, started.size(), "infra, three services and the agent: " + started);

            String down = launch("down");
            assertTrue(down.contains("Stopped."), down);
            for (long pid : started) {
                assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "pid " + pid + " survived");
            }
            long sleeper = sleeperPid;
            assertFalse(ProcessHandle.of(sleeper).map(ProcessHandle::isAlive).orElse(false), "the run survived");
            assertEquals(List.of(), processesMentioningState());
            assertEquals(List.of(), recordedPids());
        } finally {
            if (!recordedPids().isEmpty()) {
                launch("down");
            }
            if (sleeperPid > 0) {
                ProcessHandle.of(sleeperPid).ifPresent(ProcessHandle::destroyForcibly);
            }
        }
    }
}
