package dev.launch.e2e;

import dev.launch.devstack.KubernetesTestCluster;
import io.fabric8.kubernetes.api.model.Pod;
import io.restassured.http.ContentType;
import io.restassured.path.json.JsonPath;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;

import static io.restassured.RestAssured.given;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.*;
import static org.junit.jupiter.api.Assertions.*;

/**
 * The kubernetes target end to end: a queue made from a W&amp;B-style manifest through the queue service, agents
 * as processes pointed at a Kubernetes API server (fabric8's mock, with {@link KubernetesTestCluster} playing the
 * Job controller and the kubelet in this JVM), and a Job that outlives its agent killed with -9: adopted by the
 * queue's other agent (which finds the cluster through {@code KUBECONFIG}), watched to its end, each output line
 * stored once, one Job and one pod for the attempt throughout.
 */
class KubernetesLaunchIT {
    private static final String INSTALLATION = "e2e-k8s-" + UUID.randomUUID();
    private static LaunchStack stack;
    private static KubernetesTestCluster cluster;
    private static String suffix;

    @BeforeAll
    static void start() {
        stack = LaunchStack.shared();
        cluster = new KubernetesTestCluster();
        suffix = UUID.randomUUID().toString().substring(0, 8);
    }

    @AfterAll
    static void stop() {
        cluster.close();
    }

    private static ServiceProcess agent(String id, String queue) {
        return agent(id, queue, Map.of("LAUNCH_KUBERNETES_API_SERVER", cluster.url()));
    }

    /** An agent that finds the cluster as kubectl does: through the kubeconfig file {@code KUBECONFIG} names. */
    private static ServiceProcess agentWithKubeconfig(String id, String queue) throws java.io.IOException {
        java.nio.file.Path kubeconfig = java.nio.file.Files.createTempFile("kubeconfig", ".yaml");
        java.nio.file.Files.writeString(kubeconfig, """
                apiVersion: v1
                kind: Config
                clusters:
                - name: test
                  cluster:
                    server: %s
                contexts:
                - name: test
                  context:
                    cluster: test
                    user: test
                    namespace: default
                current-context: test
                users:
                - name: test
                  user:
                    token: not-checked-by-the-mock
                """.formatted(cluster.url()));
        return agent(id, queue, Map.of("KUBECONFIG", kubeconfig.toString()));
    }

    private static ServiceProcess agent(String id, String queue, Map<String, String> where) {
        Map<String, String> settings = new HashMap<>(where);
        settings.put("LAUNCH_INSTALLATION", INSTALLATION);
        settings.put("LAUNCH_AGENT_HEARTBEAT_INTERVAL", "PT1S");
        return stack.agent(id, 2, settings, queue);
    }

    private static String logs(String runId) {
        return given().baseUri(stack.status.url()).when().get("/api/v1/runs/" + runId + "/logs")
                .then().statusCode(200).extract().asString();
    }

    private static JsonPath run(String runId) {
        return given().baseUri(stack.status.url()).when().get("/api/v1/runs/" + runId)
                .then().statusCode(200).extract().jsonPath();
    }

    private static void awaitState(String runId, String state) {
        await().atMost(90, TimeUnit.SECONDS).pollInterval(200, TimeUnit.MILLISECONDS)
                .untilAsserted(() -> assertEquals(state, run(runId).getString("state")));
    }

    /** One Job and one pod for the run's attempt, by label. */
    private static void assertOneWorkload(String runId) {
        assertEquals(1, cluster.jobs(runId).size(), "one Job for the attempt");
        assertEquals(1, cluster.pods(runId).size(), "one pod for the attempt");
    }

    @Test
    void aJobOutlivesItsKilledAgentAndIsAdoptedByAnotherAgentOfItsQueue() throws Exception {
        String queue = "k8s-" + suffix;
        // a W&B Launch kubernetes queue config, unchanged: a Job spec, its resources, a legacy namespace
        given().baseUri(stack.queues.url()).contentType(ContentType.JSON).body("""
                {"name": "%s", "target": {"type": "kubernetes"},
                 "templateVariables": {"gpus": {"schema": {"type": "integer", "minimum": 0, "maximum": 8}, "default": 1}},
                 "config": {"spec": {"template": {"spec": {"containers": [{"image": "${image_uri}",
                     "resources": {"limits": {"cpu": 4, "memory": "12Gi", "nvidia.com/gpu": "{{gpus}}"}}}],
                     "restartPolicy": "Never"}}, "backoffLimit": 0},
                   "metadata": {"labels": {"team": "vision"}}, "namespace": "ml"}}""".formatted(queue))
                .when().post("/api/v1/queues").then().statusCode(201);
        String job = "trainer-" + suffix;
        given().baseUri(stack.jobs.url()).contentType(ContentType.JSON).body("""
                {"name":"%s","source":{"type":"image","image":"registry.local/trainer:1"},
                 "entrypoint":["python","train.py"]}""".formatted(job))
                .when().post("/api/v1/jobs").then().statusCode(anyOf(is(200), is(201)));

        ServiceProcess first = agent(queue + "-agent-1", queue);
        String runId = given().baseUri(stack.queues.url()).contentType(ContentType.JSON)
                .body("{\"job\":\"" + job + "\",\"templateVariables\":{\"gpus\":2}}")
                .when().post("/api/v1/queues/" + queue + "/runs").then().statusCode(202).extract().path("runId");
        await().atMost(60, TimeUnit.SECONDS).until(() -> cluster.pods(runId).size() == 1);
        Pod pod = cluster.pods(runId).get(0);
        assertEquals("2", cluster.jobs(runId).get(0).getSpec().getTemplate().getSpec().getContainers().get(0)
                .getResources().getLimits().get("nvidia.com/gpu").toString(), "the run's variable is in the Job");
        assertEquals("ml", pod.getMetadata().getNamespace());
        cluster.running(pod);
        awaitState(runId, "RUNNING");
        IntStream.rangeClosed(1, 3).forEach(i -> cluster.log(pod, "line-" + i));
        await().atMost(30, TimeUnit.SECONDS).until(() -> logs(runId).contains("line-3"));

        first.kill();
        IntStream.rangeClosed(4, 6).forEach(i -> cluster.log(pod, "line-" + i));
        assertOneWorkload(runId);
        try (ServiceProcess second = agentWithKubeconfig(queue + "-agent-2", queue)) {
            await().atMost(60, TimeUnit.SECONDS).pollInterval(200, TimeUnit.MILLISECONDS).untilAsserted(() ->
                    assertEquals(queue + "-agent-2", run(runId).getString("agentId")));
            assertOneWorkload(runId);
            IntStream.rangeClosed(7, 8).forEach(i -> cluster.log(pod, "line-" + i));
            await().atMost(30, TimeUnit.SECONDS).until(() -> logs(runId).contains("line-7"));
            cluster.terminated(pod, 0, "Completed");
            awaitState(runId, "FINISHED");
            JsonPath done = run(runId);
            assertEquals(1, done.getInt("attempt"), "adopted, not retried");
            assertEquals(List.of(queue + "-agent-1", queue + "-agent-2"), done.getList("attempts[0].agents"));
            await().atMost(30, TimeUnit.SECONDS).until(() -> logs(runId).contains("line-8"));
            assertEquals(IntStream.rangeClosed(1, 8).mapToObj(i -> "line-" + i).toList(), logs(runId).lines().toList(),
                    "each line once, across the agent's absence");
            await().atMost(30, TimeUnit.SECONDS).until(() -> cluster.jobs(runId).isEmpty());
        }
    }
}
