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
 * SageMaker queues from the W&B Launch configs users bring (src/test/resources/wandb-configs/sagemaker, each with its
 * source): the CreateTrainingJob body read by the AWS SDK's own model, accepted, or refused with a 400 naming the
 * field and saying what to do; and what a run of a job needs to launch there, checked at enqueue.
 */
@QuarkusTest
@QuarkusTestResource(value = LaunchTestInfra.class, initArgs = @ResourceArg(name = "database", value = "queues"))
@QuarkusTestResource(FakeJobService.class)
class SageMakerQueueConfigTest {
    private static final String ROLE = "arn:aws:iam::123456789012:role/launch-training";
    private static final String ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com/trainer:1";

    private static JsonNode fixture(String name) throws Exception {
        try (InputStream in = SageMakerQueueConfigTest.class.getResourceAsStream("/wandb-configs/sagemaker/" + name)) {
            return name.endsWith(".json") ? Events.MAPPER.readTree(in) : new YAMLMapper().readTree(in);
        }
    }

    private static ValidatableResponse create(ObjectNode target, JsonNode config, String variables) throws Exception {
        ObjectNode body = Events.MAPPER.createObjectNode();
        body.put("name", "sm-" + UUID.randomUUID().toString().substring(0, 8));
        body.set("target", target);
        body.set("config", config);
        if (variables != null) {
            body.set("templateVariables", Events.MAPPER.readTree(variables));
        }
        return given().contentType(ContentType.JSON).body(body.toString()).when().post("/api/v1/queues").then();
    }

    private static ObjectNode target() {
        return Events.MAPPER.createObjectNode().put("type", "sagemaker");
    }

    private static ObjectNode withRole(JsonNode config) {
        ObjectNode copy = config.deepCopy();
        copy.put("RoleArn", ROLE);
        return copy;
    }

    private static final String INSTANCE = "{\"aws_instance\": {\"schema\": {\"type\": \"string\", \"enum\": "
            + "[\"ml.m4.xlarge\", \"ml.p3.xlarge\"]}}}";

    @Test
    void theUisDefaultBodyIsRefusedForItsPlaceholders() throws Exception {
        create(target(), fixture("01-docs-default-createtrainingjob.json"), null).statusCode(400)
                .contentType("application/problem+json")
                .body("errors.field", containsInAnyOrder("config.RoleArn", "config.OutputDataConfig.S3OutputPath"))
                .body("errors[0].message", containsString("placeholder ([REQUIRED])"));
        // the older docs' <REQUIRED> too
        ObjectNode older = (ObjectNode) fixture("01-docs-default-createtrainingjob.json");
        older.put("RoleArn", "<REQUIRED>");
        ((ObjectNode) older.get("OutputDataConfig")).put("S3OutputPath", "s3://bucket/out");
        create(target(), older, null).statusCode(400).body("errors.field", contains("config.RoleArn"));
        // filled in, it is a queue
        ObjectNode filled = withRole(older);
        create(target(), filled, null).statusCode(201).body("config.ResourceConfig.InstanceType", is("ml.m4.xlarge"));
    }

    @Test
    void theDocsRoleExampleIsRefusedAndTheTargetsRoleIsUsedWhenTheBodyHasNone() throws Exception {
        create(target(), fixture("02-docs-queue-template-before.yaml"), null).statusCode(400)
                .body("errors.field", contains("config.RoleArn"))
                .body("errors[0].message", containsString("the documentation's example"));
        ObjectNode noRole = (ObjectNode) fixture("02-docs-queue-template-before.yaml");
        noRole.remove("RoleArn");
        create(target(), noRole, null).statusCode(400).body("errors.field", contains("config.RoleArn"))
                .body("errors[0].message", containsString("roleArn in the queue's target"));
        create(target().put("roleArn", ROLE).put("region", "eu-west-1"), noRole, null).statusCode(201)
                .body("target.roleArn", is(ROLE));
        create(target().put("roleArn", "launch-training").put("account", "1"), noRole, null).statusCode(400)
                .body("errors.field", containsInAnyOrder("target.roleArn", "target.account"));
    }

    @Test
    void anInstanceTypeFromATemplateVariableIsAcceptedOnceDeclaredAndCheckedAtEnqueue() throws Exception {
        JsonNode config = withRole(fixture("03-docs-queue-template-aws-instance.yaml"));
        create(target(), config, null).statusCode(400).body("errors.field", hasItem("config"))
                .body("errors.message", hasItem(containsString("{{aws_instance}}")));
        String queue = create(target(), config, INSTANCE).statusCode(201).extract().path("name");
        String job = imageJob(ECR);
        given().contentType(ContentType.JSON)
                .body("{\"job\":\"" + job + "\",\"templateVariables\":{\"aws_instance\":\"ml.p3.xlarge\"}}")
                .when().post("/api/v1/queues/" + queue + "/runs").then().statusCode(202);
        given().contentType(ContentType.JSON)
                .body("{\"job\":\"" + job + "\",\"templateVariables\":{\"aws_instance\":\"ml.p4d.24xlarge\"}}")
                .when().post("/api/v1/queues/" + queue + "/runs").then().statusCode(400)
                .body("errors.field", hasItem("templateVariables.aws_instance"));
    }

    @Test
    void theResourceArgsFormIsUnwrappedAndItsUnknownFieldsRefusedByPath() throws Exception {
        create(target(), fixture("04-wandb-tests-resource-args-macro.json"), null).statusCode(400)
                .body("errors.field", containsInAnyOrder("config.sagemaker.RoleArn",
                        "config.sagemaker.ResourceConfig.blah", "config.sagemaker.StoppingCondition.test",
                        "config.sagemaker.ResourceConfig.VolumeSizeInGB", "config.sagemaker.ResourceConfig.InstanceType",
                        "config.sagemaker.ResourceConfig.InstanceCount"))
                .body("errors.find { it.field == 'config.sagemaker.ResourceConfig.blah' }.message",
                        allOf(containsString("not a field of ResourceConfig"), containsString("InstanceType")));
        // with real values the wrapper is taken off and the name it sets is said to be replaced
        ObjectNode fixed = (ObjectNode) fixture("04-wandb-tests-resource-args-macro.json");
        ObjectNode body = (ObjectNode) fixed.get("sagemaker");
        body.put("RoleArn", ROLE);
        body.set("ResourceConfig", Events.MAPPER.readTree(
                "{\"InstanceType\": \"ml.g5.xlarge\", \"InstanceCount\": 1, \"VolumeSizeInGB\": 50}"));
        body.set("StoppingCondition", Events.MAPPER.readTree("{\"MaxRuntimeInSeconds\": 86400}"));
        create(target(), fixed, null).statusCode(201)
                .body("notes", hasItems(containsString("'sagemaker:' wrapper"), containsString("TrainingJobName is "
                        + "replaced")));
    }

    @Test
    void typesRequiredFieldsSpotTrainingAndWhatLaunchSetsAreChecked() throws Exception {
        JsonNode full = Events.MAPPER.readTree("""
                {"RoleArn": "%s", "region": "us-west-2", "EcrRepoName": "trainers",
                 "ResourceConfig": {"InstanceType": "ml.p3.2xlarge", "InstanceCount": "{{count}}", "VolumeSizeInGB": 100},
                 "OutputDataConfig": {"S3OutputPath": "s3://models/${queue}"},
                 "StoppingCondition": {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200},
                 "EnableManagedSpotTraining": true,
                 "CheckpointConfig": {"S3Uri": "s3://models/checkpoints/${run_id}"},
                 "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource":
                     {"S3DataType": "S3Prefix", "S3Uri": "s3://data/train"}}}],
                 "HyperParameters": {"epochs": "10"},
                 "VpcConfig": {"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-1"]},
                 "Environment": {"WANDB_PROJECT": "vision"},
                 "Tags": [{"Key": "team", "Value": "vision"}]}""".formatted(ROLE));
        String count = "{\"count\": {\"schema\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 4}}}";
        create(target(), full, count).statusCode(201);

        ObjectNode bad = full.deepCopy();
        ((ObjectNode) bad.get("ResourceConfig")).put("VolumeSizeInGB", "large");
        ((ObjectNode) bad.get("HyperParameters")).put("lr", 0.1);
        ((ObjectNode) bad.get("StoppingCondition")).put("MaxWaitTimeInSeconds", 60);
        ((ObjectNode) bad.at("/InputDataConfig/0")).remove("ChannelName");
        bad.putObject("AlgorithmSpecification").put("TrainingImage", "x").put("TrainingInputMode", "File");
        ((ObjectNode) bad.get("Environment")).put("LAUNCH_RUN_ID", "mine");
        create(target(), bad, count).statusCode(400).body("errors.field", containsInAnyOrder(
                "config.ResourceConfig.VolumeSizeInGB", "config.HyperParameters.lr",
                "config.StoppingCondition.MaxWaitTimeInSeconds", "config.InputDataConfig[0].ChannelName",
                "config.AlgorithmSpecification.TrainingImage", "config.Environment.LAUNCH_RUN_ID"));

        create(target(), Events.MAPPER.readTree("{\"RoleArn\": \"" + ROLE + "\"}"), null).statusCode(400)
                .body("errors.field", hasItems("config.ResourceConfig", "config.OutputDataConfig"));
        create(target(), null, null).statusCode(400).body("errors.field", contains("config"));
    }

    @Test
    void atEnqueueTheJobMustBeAnEcrImageAndTheEnvironmentWithinSageMakersLimits() throws Exception {
        ObjectNode config = withRole(fixture("02-docs-queue-template-before.yaml"));
        String queue = create(target(), config, null).statusCode(201).extract().path("name");
        given().contentType(ContentType.JSON).body("{\"job\":\"" + imageJob(ECR) + "\"}")
                .when().post("/api/v1/queues/" + queue + "/runs").then().statusCode(202);
        given().contentType(ContentType.JSON).body("{\"job\":\"" + imageJob("ghcr.io/acme/trainer:1") + "\"}")
                .when().post("/api/v1/queues/" + queue + "/runs").then().statusCode(400)
                .contentType("application/problem+json").body("errors.field", contains("job"))
                .body("errors[0].message", allOf(containsString("Amazon ECR"), containsString("TrainingImageConfig")));
        given().contentType(ContentType.JSON).body("{\"job\":\"" + codeJob() + "\"}")
                .when().post("/api/v1/queues/" + queue + "/runs").then().statusCode(400)
                .body("detail", containsString("register the job with an image in Amazon ECR"));
        String big = "x".repeat(600);
        given().contentType(ContentType.JSON)
                .body("{\"job\":\"" + imageJob(ECR) + "\",\"inputs\":{\"prompt\":\"" + big + "\"}}")
                .when().post("/api/v1/queues/" + queue + "/runs").then().statusCode(400)
                .body("errors.field", contains("inputs")).body("errors[0].message", containsString("512"));
        // a private registry reached from the job's VPC
        ObjectNode vpc = config.deepCopy();
        vpc.putObject("AlgorithmSpecification").put("TrainingInputMode", "File").putObject("TrainingImageConfig")
                .put("TrainingRepositoryAccessMode", "Vpc");
        String vpcQueue = create(target(), vpc, null).statusCode(201).extract().path("name");
        given().contentType(ContentType.JSON).body("{\"job\":\"" + imageJob("registry.corp:5000/trainer:1")
                        + "\"}").when().post("/api/v1/queues/" + vpcQueue + "/runs").then().statusCode(202);
    }

    @Test
    void theReadmesSpotQueueIsAcceptedAndItsRunsEnqueued() throws Exception {
        // the README's "Runs on Amazon SageMaker" example, as a user pastes it
        ObjectNode body = (ObjectNode) Events.MAPPER.readTree("""
                {"name": "sm-readme-%s",
                 "target": {"type": "sagemaker", "region": "us-east-1"},
                 "maxAttempts": 3,
                 "startTimeout": "PT2H",
                 "templateVariables": {
                   "aws_instance": {"schema": {"type": "string", "enum": ["ml.g5.xlarge", "ml.p3.2xlarge"]}, "default": "ml.g5.xlarge"},
                   "instances": {"schema": {"type": "integer", "minimum": 1, "maximum": 4}, "default": 1}},
                 "config": {
                   "RoleArn": "arn:aws:iam::123456789012:role/SageMakerExecution",
                   "ResourceConfig": {"InstanceType": "{{aws_instance}}", "InstanceCount": "{{instances}}", "VolumeSizeInGB": 50},
                   "OutputDataConfig": {"S3OutputPath": "s3://acme-models/${queue}/${run_id}"},
                   "CheckpointConfig": {"S3Uri": "s3://acme-models/checkpoints/${run_id}"},
                   "EnableManagedSpotTraining": true,
                   "StoppingCondition": {"MaxRuntimeInSeconds": 86400, "MaxWaitTimeInSeconds": 172800},
                   "InputDataConfig": [{"ChannelName": "train",
                     "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://acme-data/train"}}}]}
                }""".formatted(UUID.randomUUID().toString().substring(0, 8)));
        String queue = given().contentType(ContentType.JSON).body(body.toString()).when().post("/api/v1/queues")
                .then().statusCode(201).extract().path("name");
        given().contentType(ContentType.JSON).body("{\"job\":\"" + imageJob(ECR) + "\",\"templateVariables\":"
                        + "{\"aws_instance\":\"ml.p3.2xlarge\",\"instances\":2}}")
                .when().post("/api/v1/queues/" + queue + "/runs").then().statusCode(202);
    }

    private static String imageJob(String image) {
        String job = "img-" + UUID.randomUUID().toString().substring(0, 8);
        FakeJobService.register(job, 1, """
                {"name":"%s","version":1,"digest":"sha256:%s","source":{"type":"image","image":"%s"},
                 "entrypoint":["python","train.py"],"inputs":{"schema":{"type":"object"},"defaults":{}},
                 "createdAt":"2026-01-01T00:00:00Z"}""".formatted(job, "c".repeat(64), image));
        return job;
    }

    private static String codeJob() {
        String job = "code-" + UUID.randomUUID().toString().substring(0, 8);
        FakeJobService.register(job, 1, """
                {"name":"%s","version":1,"digest":"sha256:%s","source":{"type":"code","artifact":"/tmp/x"},
                 "entrypoint":["python","train.py"],"inputs":{"schema":{"type":"object"},"defaults":{}},
                 "createdAt":"2026-01-01T00:00:00Z"}""".formatted(job, "d".repeat(64)));
        return job;
    }
}
