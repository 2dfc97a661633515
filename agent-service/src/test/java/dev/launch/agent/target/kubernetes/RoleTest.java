package dev.launch.agent.target.kubernetes;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import dev.launch.agent.target.Handles;
import dev.launch.common.event.Events;
import dev.launch.common.event.RunRequest;
import dev.launch.common.job.JobSource;
import dev.launch.common.naming.RunIds;
import dev.launch.devstack.KubernetesTestCluster;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * {@code deploy/k8s/agent/role.yaml} grants exactly what the kubernetes target uses: every request the target
 * sends (with the agent's own client, told apart by its user agent) through every path — a run to its end with
 * its output, a stop, an existing name met on create, an adoption — is recorded by the API server, turned into
 * the (API group, resource, verb) that RBAC checks, and compared with the Role's rules. A Role that grants less
 * breaks the agent; one that grants more gives runs' agents rights they do not need.
 */
class RoleTest {

    private static RunRequest run() {
        return new RunRequest(RunIds.next(), "gpu", "train", 1, "sha256:x",
                new JobSource(JobSource.IMAGE, "trainer:1", null, null, null, null, null), List.of("python", "t.py"),
                Events.MAPPER.createObjectNode(), Events.MAPPER.createObjectNode().put("type", "kubernetes")
                .put("namespace", "ml"), 1, 1, null, Instant.now(), null);
    }

    private static Pod podOf(KubernetesTestCluster cluster, RunRequest r) {
        await().atMost(20, TimeUnit.SECONDS).until(() -> cluster.pods(r.runId()).size() == 1);
        return cluster.pods(r.runId()).get(0);
    }

    private static KubernetesTarget target(KubernetesClient client) {
        KubernetesTarget target = new KubernetesTarget();
        target.use(client, "role-test", Duration.ofSeconds(2), Duration.ofDays(1), Duration.ofMinutes(5));
        return target;
    }

    @Test
    void theAgentsRoleGrantsExactlyWhatTheTargetUses() throws Exception {
        Set<String> used = new TreeSet<>();
        try (KubernetesTestCluster cluster = new KubernetesTestCluster();
             KubernetesClient agentClient = KubernetesTarget.clientFor(Optional.of(cluster.url()))) {
            KubernetesTarget target = target(agentClient);
            // a run to its end, with output
            RunRequest done = run();
            KubernetesTargetTest.Seen seen = new KubernetesTargetTest.Seen();
            target.submit(done, Handles.of(done.runId(), 1, 63), seen);
            Pod pod = podOf(cluster, done);
            cluster.running(pod);
            cluster.log(pod, "hello");
            seen.awaitLast("running");
            cluster.terminated(pod, 0, "Completed");
            seen.awaitLast("exited 0");
            await().atMost(20, TimeUnit.SECONDS).until(() -> cluster.jobs(done.runId()).isEmpty());
            // a stop
            RunRequest stopped = run();
            KubernetesTargetTest.Seen stopping = new KubernetesTargetTest.Seen();
            target.submit(stopped, Handles.of(stopped.runId(), 1, 63), stopping);
            cluster.running(podOf(cluster, stopped));
            stopping.awaitLast("running");
            target.stop(Handles.of(stopped.runId(), 1, 63));
            stopping.awaitLast("stopped");
            // an adoption, and an item taken again after its Job was made
            RunRequest adopted = run();
            target.submit(adopted, Handles.of(adopted.runId(), 1, 63), new KubernetesTargetTest.Seen());
            cluster.running(podOf(cluster, adopted));
            target.close();
            KubernetesTarget again = target(agentClient);
            KubernetesTargetTest.Seen retaken = new KubernetesTargetTest.Seen();
            again.submit(adopted, Handles.of(adopted.runId(), 1, 63), retaken);
            retaken.awaitLast("running");
            KubernetesTarget adopter = target(agentClient);
            KubernetesTargetTest.Seen watching = new KubernetesTargetTest.Seen();
            adopter.attach(adopted, Handles.of(adopted.runId(), 1, 63), -1, watching);
            watching.awaitLast("running");
            again.close();
            adopter.close();

            for (String request : cluster.requests()) {
                if (request.startsWith(KubernetesTarget.USER_AGENT + " ")) {
                    used.add(permission(request.substring(KubernetesTarget.USER_AGENT.length() + 1)));
                }
            }
        }
        JsonNode role = new YAMLMapper().readTree(Path.of("..", "deploy", "k8s", "agent", "role.yaml").toFile());
        Set<String> granted = new TreeSet<>();
        for (JsonNode rule : role.get("rules")) {
            for (JsonNode group : rule.get("apiGroups")) {
                for (JsonNode resource : rule.get("resources")) {
                    for (JsonNode verb : rule.get("verbs")) {
                        granted.add(group.asText() + "/" + resource.asText() + ":" + verb.asText());
                    }
                }
            }
        }
        assertEquals(granted, used, "deploy/k8s/agent/role.yaml must grant exactly what the target uses");
    }

    private static final Pattern PATH = Pattern.compile(
            "(GET|POST|PUT|PATCH|DELETE) /(?:api/v1|apis/([^/]+)/[^/]+)/namespaces/[^/]+/([^/?]+)(?:/([^/?]+))?(?:/([^/?]+))?(\\?.*)?");

    /** {@code GET /apis/batch/v1/namespaces/ml/jobs?watch=true} as {@code batch/jobs:watch}. */
    static String permission(String request) {
        Matcher m = PATH.matcher(request);
        if (!m.matches()) {
            throw new AssertionError("a request RBAC cannot name: " + request);
        }
        String group = m.group(2) == null ? "" : m.group(2);
        String resource = m.group(3) + (m.group(5) == null ? "" : "/" + m.group(5));
        boolean named = m.group(4) != null;
        String query = m.group(6) == null ? "" : m.group(6);
        String verb = switch (m.group(1)) {
            case "GET" -> query.contains("watch=true") ? "watch" : named ? "get" : "list";
            case "POST" -> "create";
            case "PUT" -> "update";
            case "PATCH" -> "patch";
            default -> named ? "delete" : "deletecollection";
        };
        return group + "/" + resource + ":" + verb;
    }
}
