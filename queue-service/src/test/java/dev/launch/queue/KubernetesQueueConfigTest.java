package dev.launch.queue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import dev.launch.common.event.Events;
import dev.launch.devstack.LaunchTestInfra;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.common.ResourceArg;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;
import io.restassured.response.ValidatableResponse;
import org.junit.jupiter.api.Test;

import java.io.InputStream;
import java.util.UUID;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.*;

/**
 * Kubernetes queues from the W&B Launch configs users bring (src/test/resources/wandb-configs/kubernetes, each with
 * its source): accepted as they are, or refused with a 400 that names the field and says what to do.
 */
@QuarkusTest
@QuarkusTestResource(value = LaunchTestInfra.class, initArgs = @ResourceArg(name = "database", value = "queues"))
@QuarkusTestResource(FakeJobService.class)
class KubernetesQueueConfigTest {

    private static JsonNode fixture(String name) throws Exception {
        try (InputStream in = KubernetesQueueConfigTest.class.getResourceAsStream("/wandb-configs/kubernetes/" + name)) {
            return name.endsWith(".json") ? Events.MAPPER.readTree(in) : new YAMLMapper().readTree(in);
        }
    }

    private static ValidatableResponse create(ObjectNode target, JsonNode config, String variables) throws Exception {
        ObjectNode body = Events.MAPPER.createObjectNode();
        body.put("name", "k8s-" + UUID.randomUUID().toString().substring(0, 8));
        body.set("target", target);
        body.set("config", config);
        if (variables != null) {
            body.set("templateVariables", Events.MAPPER.readTree(variables));
        }
        return given().contentType(ContentType.JSON).body(body.toString()).when().post("/api/v1/queues").then();
    }

    private static ObjectNode target() {
        return Events.MAPPER.createObjectNode().put("type", "kubernetes");
    }

    private static final String GPUS = "{\"gpus\": {\"schema\": {\"type\": \"integer\", \"minimum\": 0, \"maximum\": 8}, "
            + "\"default\": 1}}";

    @Test
    void aBasicJobSpecWithALegacyNamespaceIsAccepted() throws Exception {
        create(target(), fixture("01-docs-job-spec-basic.yaml"), null).statusCode(201)
                .body("config.namespace", is("wandb")).body("target.type", is("kubernetes"));
    }

    @Test
    void aGpuCountFromATemplateVariableIsAcceptedOnceTheVariableIsDeclared() throws Exception {
        create(target(), fixture("02-docs-minikube-gpu-template-var.yaml"), GPUS).statusCode(201);
        create(target(), fixture("02-docs-minikube-gpu-template-var.yaml"), null).statusCode(400)
                .body("errors.field", hasItem("config")).body("errors.message", hasItem(containsString("{{gpus}}")));
    }

    @Test
    void volumeMountsInsideResourcesIsRefusedByItsPathNotDropped() throws Exception {
        create(target(), fixture("03-docs-minikube-gpu-nfs.json"), GPUS).statusCode(400)
                .contentType("application/problem+json")
                .body("errors.field", contains("config.spec.template.spec.containers[0].resources.volumeMounts"))
                .body("errors[0].message", containsString("beside resources"));
    }

    @Test
    void customWorkloadKindsAreAcceptedWithTheirPodTemplatesCheckedAndAStatusRule() throws Exception {
        create(target(), fixture("04-docs-volcano-job.yaml"), null).statusCode(201);
        create(target(), fixture("05-docs-kubeflow-pytorchjob-wrapped.yaml"), null).statusCode(201)
                .body("notes", hasItem(containsString("'kubernetes:' wrapper")));
        // a pod template is read as Kubernetes reads it, wherever the operator keeps it
        ObjectNode misplaced = (ObjectNode) fixture("05-docs-kubeflow-pytorchjob-wrapped.yaml").get("kubernetes");
        ((ObjectNode) misplaced.at("/spec/pytorchReplicaSpecs/Worker/template/spec/containers/0"))
                .putObject("resources").putArray("volumeMounts");
        create(target(), misplaced, null).statusCode(400).body("errors.field",
                contains("config.spec.pytorchReplicaSpecs.Worker.template.spec.containers[0].resources.volumeMounts"));
        // a kind Launch does not know needs its status rule
        JsonNode ray = Events.MAPPER.readTree("""
                {"apiVersion": "ray.io/v1", "kind": "RayJob", "spec": {"rayClusterSpec": {"headGroupSpec":
                  {"template": {"spec": {"containers": [{"name": "ray-head", "image": "${image_uri}"}]}}}}}}""");
        create(target(), ray, null).statusCode(400).body("errors.field", contains("target.status"))
                .body("errors[0].message", containsString("declare it"));
        ObjectNode declared = target();
        declared.set("status", Events.MAPPER.readTree("{\"field\": \"jobDeploymentStatus\", \"running\": "
                + "[\"Running\"], \"succeeded\": [\"Complete\"], \"failed\": [\"Failed\"]}"));
        create(declared, ray, null).statusCode(201);
        // a bare Pod is not a workload Launch watches to its end
        create(target(), Events.MAPPER.readTree("{\"apiVersion\": \"v1\", \"kind\": \"Pod\", \"spec\": {}}"), null)
                .statusCode(400).body("errors.field", hasItem("config.apiVersion"));
    }

    @Test
    void anImagePlaceholderTheJobsImageReplacesIsAccepted() throws Exception {
        create(target(), fixture("06-coreweave-gpu-node-affinity.yaml"), null).statusCode(201);
    }

    @Test
    void aSharedProcessNamespaceIsRefusedUnlessTheQueueAllowsIt() throws Exception {
        String model = "{\"modelImage\": {\"schema\": {\"type\": \"string\", \"enum\": [\"tensorflow/serving:2.14.0\"]}}}";
        create(target(), fixture("07-user-multicontainer-template-var.yaml"), model).statusCode(400)
                .body("errors.field", contains("config.spec.template.spec.shareProcessNamespace"))
                .body("errors[0].message", containsString("target.allow"));
        ObjectNode allowing = target();
        allowing.putArray("allow").add("shareProcessNamespace");
        create(allowing, fixture("07-user-multicontainer-template-var.yaml"), model).statusCode(201);
        allowing.putArray("allow").add("everything");
        create(allowing, fixture("07-user-multicontainer-template-var.yaml"), model).statusCode(400)
                .body("errors.field", hasItem("target.allow"));
    }

    @Test
    void aDoublyWrappedConfigIsRefusedSayingSo() throws Exception {
        // the helper's dict carries its own 'kubernetes:' key: one wrapper is taken off, and the namespace
        // placeholder it left is what there is to fix
        create(target(), fixture("08-wandb-skills-double-nested.json"), null).statusCode(400)
                .body("errors.field", contains("config.kubernetes.namespace"))
                .body("errors[0].message", containsString("placeholder"));
        // as W&B stores it (its create_run_queue wraps it once more): refused, saying why
        ObjectNode twice = Events.MAPPER.createObjectNode();
        twice.set("kubernetes", fixture("08-wandb-skills-double-nested.json"));
        create(target(), twice, null).statusCode(400)
                .body("errors.field", contains("config.kubernetes.kubernetes"))
                .body("errors[0].message", containsString("twice"));
    }

    @Test
    void theTargetsOwnFieldsAreChecked() throws Exception {
        ObjectNode bad = target().put("namespace", "Not_A_Namespace").put("cluster", "x");
        create(bad, fixture("01-docs-job-spec-basic.yaml"), null).statusCode(400)
                .body("errors.field", hasItems("target.namespace", "target.cluster"));
    }

    @Test
    void aVariableValueThatMakesTheManifestUnreadableIsRefusedAtEnqueue() throws Exception {
        String job = "img-" + UUID.randomUUID().toString().substring(0, 8);
        FakeJobService.register(job, 1, """
                {"name":"%s","version":1,"digest":"sha256:%s","source":{"type":"image","image":"trainer:1"},
                 "entrypoint":["python","train.py"],"inputs":{"schema":{"type":"object"},"defaults":{}},
                 "createdAt":"2026-01-01T00:00:00Z"}""".formatted(job, "b".repeat(64)));
        JsonNode config = Events.MAPPER.readTree("{\"spec\": {\"backoffLimit\": \"{{retries}}\"}}");
        String queue = create(target(), config, "{\"retries\": {\"schema\": {\"type\": \"string\", \"enum\": [\"0\", "
                + "\"many\"]}}}").statusCode(201).extract().path("name");
        given().contentType(ContentType.JSON).body("{\"job\":\"" + job + "\",\"templateVariables\":{\"retries\":\"0\"}}")
                .when().post("/api/v1/queues/" + queue + "/runs").then().statusCode(202);
        given().contentType(ContentType.JSON).body("{\"job\":\"" + job + "\",\"templateVariables\":{\"retries\":\"many\"}}")
                .when().post("/api/v1/queues/" + queue + "/runs").then().statusCode(400)
                .body("errors.field", hasItem("config.spec.backoffLimit"));
    }
}
