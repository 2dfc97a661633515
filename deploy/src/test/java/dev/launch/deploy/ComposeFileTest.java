package dev.launch.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The root {@code docker-compose.yml} as a platform team reads it: every process there, each with a health check
 * and its start order, state on named volumes, no secret written in it, every image named by a variable, and
 * every file it mounts present. (That it really comes up is deploy/compose/smoke's to show.)
 */
class ComposeFileTest {
    private static final Path ROOT = Kit.deploy().getParent();
    /** Read as compose reads it: with YAML merge keys ({@code <<: *anchor}), which Jackson's YAML does not apply. */
    private static final JsonNode COMPOSE = compose();
    private static final Pattern VARIABLE = Pattern.compile("^\\$\\{[A-Z_]+(:[-?][^}]*)?}");

    private static JsonNode compose() {
        try {
            Object tree = new org.yaml.snakeyaml.Yaml().load(Files.readString(ROOT.resolve("docker-compose.yml")));
            return Kit.JSON.valueToTree(tree);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static Map<String, JsonNode> services() {
        Map<String, JsonNode> services = new java.util.TreeMap<>();
        COMPOSE.get("services").fields().forEachRemaining(e -> services.put(e.getKey(), e.getValue()));
        return services;
    }

    @Test
    void everyProcessIsThereWithAHealthCheckAndAnImageNamedByAVariable() {
        assertEquals(Set.of("kafka", "postgres", "job-service", "queue-service", "status-service", "agent",
                "prometheus", "grafana"), services().keySet());
        services().forEach((name, service) -> {
            assertNotNull(service.get("healthcheck"), name + ": a health check");
            assertTrue(service.get("healthcheck").get("test").size() > 1, name + ": a health check command");
            String image = service.get("image").asText();
            assertTrue(VARIABLE.matcher(image).find(), name + ": its image (" + image + ") starts with a variable");
            assertNotNull(service.get("restart"), name + ": a restart policy");
        });
        // Launch's own are built from the build's output
        for (String name : List.of("job-service", "queue-service", "status-service", "agent")) {
            JsonNode build = services().get(name).get("build");
            assertEquals("deploy/images/Dockerfile", build.get("dockerfile").asText(), name);
            String published = services().get(name).get("ports").get(0).asText();
            String port = published.substring(published.lastIndexOf(':') + 1);
            assertTrue(VARIABLE.matcher(published).find(), name + ": its host port can be moved: " + published);
            assertEquals("launch-health " + port, services().get(name).get("healthcheck").get("test").get(1).asText(),
                    name + ": the image's health check asks the port it serves (podman-compose runs only CMD-SHELL "
                    + "health checks as written)");
            String module = build.get("args").get("MODULE").asText();
            assertTrue(Files.isDirectory(ROOT.resolve(module).resolve("src/main")), name + ": module " + module);
        }
    }

    @Test
    void theStartOrderWaitsForHealthyDependencies() {
        Map<String, JsonNode> services = services();
        assertEquals(Set.of("kafka", "postgres"), dependencies(services.get("job-service")));
        assertEquals(Set.of("kafka", "postgres"), dependencies(services.get("status-service")));
        assertEquals(Set.of("job-service", "status-service"), dependencies(services.get("queue-service")));
        assertEquals(Set.of("queue-service"), dependencies(services.get("agent")));
        for (String name : List.of("job-service", "queue-service", "status-service", "agent")) {
            services.get(name).get("depends_on").fields().forEachRemaining(d -> assertEquals("service_healthy",
                    d.getValue().get("condition").asText(), name + " waits for " + d.getKey() + " to be healthy"));
        }
    }

    private static Set<String> dependencies(JsonNode service) {
        Set<String> names = new TreeSet<>();
        service.get("depends_on").fieldNames().forEachRemaining(names::add);
        return names;
    }

    @Test
    void stateLivesOnNamedVolumesAndMountedFilesExist() {
        Set<String> declared = new TreeSet<>();
        COMPOSE.get("volumes").fieldNames().forEachRemaining(declared::add);
        Set<String> used = new TreeSet<>();
        services().forEach((name, service) -> {
            if (service.get("volumes") == null) {
                return;
            }
            for (JsonNode volume : service.get("volumes")) {
                String source = volume.asText().split(":")[0];
                if (source.startsWith("./")) {
                    assertTrue(Files.exists(ROOT.resolve(source.substring(2))), name + " mounts " + source);
                } else {
                    used.add(source);
                }
            }
        });
        assertEquals(declared, used, "every named volume used, every one used declared");
        for (String stateful : List.of("kafka", "postgres", "job-service", "prometheus", "grafana")) {
            assertTrue(services().get(stateful).get("volumes").toString().contains("-data")
                    || services().get(stateful).get("volumes").toString().contains("artifacts"), stateful);
        }
    }

    @Test
    void noSecretIsWrittenInTheFile() {
        List<String> literal = new ArrayList<>();
        services().forEach((name, service) -> {
            JsonNode env = service.get("environment");
            if (env == null) {
                return;
            }
            for (Iterator<Map.Entry<String, JsonNode>> it = env.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                if (e.getKey().matches(".*(PASSWORD|SECRET|TOKEN).*")) {
                    Matcher m = VARIABLE.matcher(e.getValue().asText());
                    if (!m.find() || !e.getValue().asText().equals(m.group())) {
                        literal.add(name + ": " + e.getKey());
                    }
                }
            }
        });
        assertEquals(List.of(), literal, "secrets come from the environment");
        // the database password has no default: compose refuses to start without it
        assertTrue(services().get("postgres").get("environment").get("POSTGRES_PASSWORD").asText().contains(":?"));
        assertFalse(services().get("job-service").get("environment").get("LAUNCH_DB_PASSWORD").asText()
                .contains(":-"));
    }

    @Test
    void prometheusScrapesEveryLaunchProcessWithTheJobNamesTheAlertsUse() {
        JsonNode config = Kit.read(Kit.YAML, ROOT.resolve("deploy/compose/prometheus.yml"));
        Set<String> jobs = new TreeSet<>();
        Set<String> targets = new TreeSet<>();
        config.get("scrape_configs").forEach(job -> {
            jobs.add(job.get("job_name").asText());
            assertEquals("/q/metrics", job.get("metrics_path").asText());
            job.get("static_configs").forEach(c -> c.get("targets").forEach(t -> targets.add(t.asText())));
        });
        JsonNode local = Kit.read(Kit.YAML, Kit.deploy().resolve("prometheus/prometheus.yml"));
        Set<String> localJobs = new TreeSet<>();
        local.get("scrape_configs").forEach(j -> localJobs.add(j.get("job_name").asText()));
        assertEquals(localJobs, jobs);
        assertEquals(Set.of("job-service:8081", "queue-service:8082", "status-service:8084", "agent:8083"), targets);
        assertEquals("/etc/prometheus/rules/launch-alerts.yml", config.get("rule_files").get(0).asText());
        assertTrue(services().get("prometheus").get("volumes").toString().contains("./deploy/prometheus/rules:"
                + "/etc/prometheus/rules"));
    }
}
