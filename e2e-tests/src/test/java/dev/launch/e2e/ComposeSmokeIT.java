package dev.launch.e2e;

import dev.launch.devstack.DebianTools;
import dev.launch.devstack.Ports;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code deploy/compose/smoke}: the root docker-compose.yml brought up for real (podman-compose here), a job run to
 * FINISHED through it, Prometheus scraping every process with the rules loaded, and nothing left after down. The
 * script says what it checks; this runs it with free host ports and a project of its own.
 */
class ComposeSmokeIT {
    private final Path root = Path.of(System.getProperty("launch.repo.root", "..")).toAbsolutePath().normalize();

    @Test
    void theComposeFileComesUpRunsAJobAndGoesDownWithoutATrace() throws Exception {
        DebianTools.require("podman", "podman");
        DebianTools.require("podman-compose", "podman-compose");
        DebianTools.require("debootstrap", "debootstrap");
        DebianTools.require("prometheus", "prometheus");
        DebianTools.require("busybox", "busybox-static");
        Path log = Path.of("target", "e2e-logs", "compose-smoke.log").toAbsolutePath();
        Files.createDirectories(log.getParent());
        ProcessBuilder smoke = new ProcessBuilder(List.of("bash", root.resolve("deploy/compose/smoke").toString()))
                .redirectErrorStream(true).redirectOutput(log.toFile());
        smoke.environment().put("LAUNCH_SMOKE_PROJECT", "launch-smoke-" + UUID.randomUUID().toString().substring(0, 8));
        for (String port : List.of("LAUNCH_JOB_PORT", "LAUNCH_QUEUE_PORT", "LAUNCH_AGENT_PORT", "LAUNCH_STATUS_PORT",
                "LAUNCH_PROMETHEUS_PORT")) {
            smoke.environment().put(port, String.valueOf(Ports.free()));
        }
        Process process = smoke.start();
        boolean ended = process.waitFor(15, TimeUnit.MINUTES);
        if (!ended) {
            process.destroy(); // its trap takes the project down
            process.waitFor(2, TimeUnit.MINUTES);
        }
        String output = Files.readString(log, StandardCharsets.UTF_8);
        System.out.println(output);
        assertTrue(ended, "the smoke did not end within 15 minutes:\n" + output);
        assertEquals(0, process.exitValue(), output);
        assertTrue(output.contains("smoke: passed"), output);
    }
}
