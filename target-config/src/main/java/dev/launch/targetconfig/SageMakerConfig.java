package dev.launch.targetconfig;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.launch.common.problem.Problem.FieldError;
import software.amazon.awssdk.core.SdkField;
import software.amazon.awssdk.core.SdkPojo;
import software.amazon.awssdk.core.protocol.MarshallingType;
import software.amazon.awssdk.core.traits.ListTrait;
import software.amazon.awssdk.core.traits.MapTrait;
import software.amazon.awssdk.core.traits.RequiredTrait;
import software.amazon.awssdk.services.sagemaker.model.CreateTrainingJobRequest;
import software.amazon.awssdk.utils.builder.SdkBuilder;

import java.math.BigDecimal;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;

/**
 * A sagemaker queue's {@code config}: the CreateTrainingJob request body, as W&B Launch stores it. One top-level
 * {@code sagemaker:} wrapper (W&B's {@code resource_args} form) is taken off; W&B's {@code EcrRepoName},
 * {@code region} and {@code profile} are taken out (the last two configure the agent's clients).
 *
 * <p>Read by the AWS SDK's own request model ({@link CreateTrainingJobRequest#sdkFields()}, field by field down
 * every shape), so a field SageMaker does not know is refused by its path instead of being dropped, a wrong type
 * is refused where it is, and what the model marks required must be there. Launch fills in what comes from the
 * run: {@code TrainingJobName} (the attempt's handle), {@code AlgorithmSpecification.TrainingImage},
 * {@code ContainerEntrypoint} and {@code ContainerArguments} (the job's image and command), the
 * {@code LAUNCH_*} environment and the {@code launch.*} tags; a config may not set those. A placeholder left from
 * a published example ({@code [REQUIRED]}, {@code <role-arn>}) is refused by its path.
 */
public final class SageMakerConfig {
    /** W&B's keys beside the request body: not part of CreateTrainingJob. */
    public static final Set<String> WANDB_KEYS = Set.of("EcrRepoName", "region", "profile");
    /** SageMaker's limit on an environment variable's value (and name). */
    public static final int MAX_ENVIRONMENT_VALUE = 512;
    /** SageMaker's limit on the number of environment variables. */
    public static final int MAX_ENVIRONMENT_ENTRIES = 100;
    /** The tags Launch puts on each training job. */
    public static final String TAG_RUN_ID = "launch.run-id";
    public static final String TAG_QUEUE = "launch.queue";
    public static final String TAG_ATTEMPT = "launch.attempt";
    public static final String TAG_INSTALLATION = "launch.installation";

    private static final Pattern PLACEHOLDER = Pattern.compile("\\[[A-Za-z][A-Za-z0-9 _-]*]|<[A-Za-z][A-Za-z0-9 _-]*>");
    /** SageMaker's own pattern of a RoleArn. */
    private static final Pattern ROLE_ARN = Pattern.compile("arn:aws[a-z\\-]*:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+");
    private static final Pattern REGION = Pattern.compile("[a-z]{2}(-[a-z]+)+-\\d+");
    private static final Pattern ECR_IMAGE = Pattern.compile("\\d{12}\\.dkr\\.ecr(-fips)?\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?/.+");
    private static final Pattern ENV_NAME = Pattern.compile("[a-zA-Z_][a-zA-Z0-9_]*");
    /**
     * The members SageMaker's API reference marks required, by shape (the SDK's model carries no such trait for
     * SageMaker), and what a Launch job needs besides: {@code ResourceConfig} and {@code StoppingCondition}, as
     * W&B's agent requires them.
     */
    private static final Map<String, List<String>> REQUIRED = Map.ofEntries(
            Map.entry("CreateTrainingJob", List.of("OutputDataConfig", "ResourceConfig", "StoppingCondition")),
            Map.entry("OutputDataConfig", List.of("S3OutputPath")),
            Map.entry("ResourceConfig", List.of("VolumeSizeInGB")),
            Map.entry("Channel", List.of("ChannelName", "DataSource")),
            Map.entry("S3DataSource", List.of("S3DataType", "S3Uri")),
            Map.entry("FileSystemDataSource", List.of("DirectoryPath", "FileSystemAccessMode", "FileSystemId",
                    "FileSystemType")),
            Map.entry("VpcConfig", List.of("SecurityGroupIds", "Subnets")),
            Map.entry("CheckpointConfig", List.of("S3Uri")),
            Map.entry("Tag", List.of("Key", "Value")),
            Map.entry("MetricDefinition", List.of("Name", "Regex")),
            Map.entry("InstanceGroup", List.of("InstanceCount", "InstanceGroupName", "InstanceType")));
    private static final Set<String> SET_BY_LAUNCH_SPEC = Set.of("TrainingImage", "ContainerEntrypoint",
            "ContainerArguments");

    private SageMakerConfig() {
    }

    /** Whether the config is in W&B's {@code resource_args} form, inside a {@code sagemaker:} key. */
    public static boolean wrapped(ObjectNode config) {
        return config != null && config.size() == 1 && config.path("sagemaker").isObject();
    }

    /** The CreateTrainingJob body: the config, or what is inside its {@code sagemaker:} wrapper. */
    public static ObjectNode body(ObjectNode config) {
        return wrapped(config) ? (ObjectNode) config.get("sagemaker") : config;
    }

    /** The region the queue names (its config's W&B {@code region}, else the target's), if any. */
    public static Optional<String> region(JsonNode target, ObjectNode config) {
        ObjectNode body = body(config);
        if (body != null && body.path("region").isTextual()) {
            return Optional.of(body.get("region").asText());
        }
        return target != null && target.path("region").isTextual() ? Optional.of(target.get("region").asText())
                : Optional.empty();
    }

    /** The AWS profile the queue's config names (W&B's {@code profile}), if any. */
    public static Optional<String> profile(ObjectNode config) {
        ObjectNode body = body(config);
        return body != null && body.path("profile").isTextual() ? Optional.of(body.get("profile").asText())
                : Optional.empty();
    }

    /** The fields of a sagemaker queue's {@code target}. */
    public static List<FieldError> checkTarget(ObjectNode target) {
        List<FieldError> errors = new ArrayList<>();
        target.fieldNames().forEachRemaining(field -> {
            if (!Set.of("type", "region", "roleArn").contains(field)) {
                errors.add(new FieldError("target." + field, "not a field of a sagemaker target (it takes type, "
                        + "region and roleArn; the CreateTrainingJob body goes in config)"));
            }
        });
        JsonNode region = target.get("region");
        if (region != null && (!region.isTextual() || !REGION.matcher(region.asText()).matches())) {
            errors.add(new FieldError("target.region", "must be an AWS region such as us-east-1"));
        }
        JsonNode role = target.get("roleArn");
        if (role != null) {
            roleArn("target.roleArn", role, errors);
        }
        return errors;
    }

    /** What is wrong with {@code config} for a sagemaker queue whose target is {@code target}. */
    public static List<FieldError> check(ObjectNode target, ObjectNode config) {
        List<FieldError> errors = new ArrayList<>();
        if (config == null || config.isEmpty()) {
            errors.add(new FieldError("config", "a sagemaker queue needs its CreateTrainingJob body: at least "
                    + "ResourceConfig, OutputDataConfig and StoppingCondition (and RoleArn unless target.roleArn "
                    + "gives it)"));
            return errors;
        }
        String at = wrapped(config) ? "config.sagemaker" : "config";
        ObjectNode body = body(config);
        if (body.path("sagemaker").isObject()) {
            errors.add(new FieldError(at + ".sagemaker", "the body is wrapped in 'sagemaker:' twice; the config is "
                    + "the CreateTrainingJob body itself (or one sagemaker: wrapper around it)"));
            return errors;
        }
        ObjectNode request = body.deepCopy();
        for (String key : WANDB_KEYS) {
            JsonNode value = request.remove(key);
            if (value != null && !value.isTextual()) {
                errors.add(new FieldError(at + "." + key, "must be a string"));
            }
        }
        if (body.has("region") && body.get("region").isTextual()
                && !REGION.matcher(body.get("region").asText()).matches()) {
            errors.add(new FieldError(at + ".region", "must be an AWS region such as us-east-1"));
        }
        request.remove("TrainingJobName"); // replaced by the attempt's handle
        placeholders(request, at, errors);
        if (!errors.isEmpty()) {
            return errors;
        }
        Set<String> filledByLaunch = target.has("roleArn") ? Set.of("TrainingJobName", "AlgorithmSpecification",
                "RoleArn") : Set.of("TrainingJobName", "AlgorithmSpecification");
        CreateTrainingJobRequest.Builder builder = CreateTrainingJobRequest.builder();
        read(request, (SdkPojo) builder, at, filledByLaunch, errors);
        if (!target.has("roleArn") && !request.has("RoleArn")) {
            errors.removeIf(e -> e.field().equals(at + ".RoleArn"));
            errors.add(new FieldError(at + ".RoleArn", "the execution role SageMaker runs the job as is needed: set "
                    + "RoleArn here or roleArn in the queue's target"));
        } else if (request.has("RoleArn")) {
            roleArn(at + ".RoleArn", request.get("RoleArn"), errors);
        }
        JsonNode spec = request.path("AlgorithmSpecification");
        for (String field : SET_BY_LAUNCH_SPEC) {
            if (spec.has(field)) {
                errors.add(new FieldError(at + ".AlgorithmSpecification." + field, "is set by Launch from the job ("
                        + (field.equals("TrainingImage") ? "its image" : "its entrypoint and the run's args")
                        + "); leave it out"));
            }
        }
        if (spec.has("AlgorithmName")) {
            errors.add(new FieldError(at + ".AlgorithmSpecification.AlgorithmName", "Launch runs the job's image; "
                    + "a marketplace algorithm cannot be named here"));
        }
        JsonNode env = request.path("Environment");
        env.fieldNames().forEachRemaining(name -> {
            if (name.startsWith("LAUNCH_")) {
                errors.add(new FieldError(at + ".Environment." + name, "LAUNCH_* variables are set by Launch for "
                        + "each run (design §6); choose another name"));
            } else if (!ENV_NAME.matcher(name).matches() || name.length() > MAX_ENVIRONMENT_VALUE) {
                errors.add(new FieldError(at + ".Environment." + name, "must be a variable name (letters, digits "
                        + "and '_', not starting with a digit)"));
            }
            JsonNode value = env.get(name);
            if (value.isTextual() && value.asText().length() > MAX_ENVIRONMENT_VALUE) {
                errors.add(new FieldError(at + ".Environment." + name, "is " + value.asText().length()
                        + " characters; SageMaker takes at most " + MAX_ENVIRONMENT_VALUE + " per value"));
            }
        });
        JsonNode tags = request.path("Tags");
        for (int i = 0; i < tags.size(); i++) {
            if (tags.get(i).path("Key").asText().startsWith("launch.")) {
                errors.add(new FieldError(at + ".Tags[" + i + "].Key", "launch.* tags are set by Launch (run id, "
                        + "queue, attempt, installation); choose another key"));
            }
        }
        JsonNode resources = request.path("ResourceConfig");
        JsonNode type = resources.path("InstanceType");
        if (type.isTextual() && !type.asText().startsWith("ml.")) {
            errors.add(new FieldError(at + ".ResourceConfig.InstanceType", "must be a SageMaker training instance "
                    + "type such as ml.m5.xlarge; got " + type.asText()));
        }
        positive(resources, "InstanceCount", at + ".ResourceConfig", errors);
        positive(resources, "VolumeSizeInGB", at + ".ResourceConfig", errors);
        JsonNode stopping = request.path("StoppingCondition");
        positive(stopping, "MaxRuntimeInSeconds", at + ".StoppingCondition", errors);
        positive(stopping, "MaxWaitTimeInSeconds", at + ".StoppingCondition", errors);
        if (request.path("EnableManagedSpotTraining").asBoolean(false)) {
            JsonNode wait = stopping.path("MaxWaitTimeInSeconds");
            JsonNode run = stopping.path("MaxRuntimeInSeconds");
            if (!wait.canConvertToLong()) {
                errors.add(new FieldError(at + ".StoppingCondition.MaxWaitTimeInSeconds", "managed spot training "
                        + "needs it: how long SageMaker may wait for spot capacity and run the job, in all"));
            } else if (run.canConvertToLong() && wait.asLong() < run.asLong()) {
                errors.add(new FieldError(at + ".StoppingCondition.MaxWaitTimeInSeconds", "must be at least "
                        + "MaxRuntimeInSeconds (" + run.asLong() + ")"));
            }
        }
        s3(request.path("OutputDataConfig").path("S3OutputPath"), at + ".OutputDataConfig.S3OutputPath", errors);
        s3(request.path("CheckpointConfig").path("S3Uri"), at + ".CheckpointConfig.S3Uri", errors);
        return errors;
    }

    /**
     * The config as a CreateTrainingJob request, read by the SDK's model: the W&B keys and any TrainingJobName
     * left out (Launch names the job). Throws {@link IllegalArgumentException} saying what is wrong.
     */
    public static CreateTrainingJobRequest.Builder request(ObjectNode config) {
        ObjectNode request = body(config).deepCopy();
        WANDB_KEYS.forEach(request::remove);
        request.remove("TrainingJobName");
        List<FieldError> errors = new ArrayList<>();
        CreateTrainingJobRequest.Builder builder = CreateTrainingJobRequest.builder();
        read(request, (SdkPojo) builder, "config", Set.of("TrainingJobName", "AlgorithmSpecification", "RoleArn"),
                errors);
        if (!errors.isEmpty()) {
            throw new IllegalArgumentException(errors.get(0).field() + ": " + errors.get(0).message());
        }
        return builder;
    }

    /**
     * Why SageMaker cannot pull {@code image} for a queue whose config is {@code config}, or null: SageMaker pulls
     * from Amazon ECR, or from a private registry in the job's VPC when
     * {@code AlgorithmSpecification.TrainingImageConfig} says so.
     */
    public static String imageProblem(String image, ObjectNode config) {
        if (image == null || ECR_IMAGE.matcher(image).matches()) {
            return null;
        }
        ObjectNode body = body(config);
        if (body != null && body.path("AlgorithmSpecification").has("TrainingImageConfig")) {
            return null;
        }
        return "SageMaker pulls training images from Amazon ECR (<account>.dkr.ecr.<region>.amazonaws.com/<repo>); "
                + image + " is not there. Push the image to ECR and register the job with that image, or set "
                + "AlgorithmSpecification.TrainingImageConfig (TrainingRepositoryAccessMode: Vpc) in the queue's "
                + "config for a private registry in the job's VPC";
    }

    /** Reads {@code node} into {@code pojo} (a builder) field by field as the SDK's model declares them. */
    private static void read(JsonNode node, SdkPojo pojo, String path, Set<String> filledByLaunch,
                             List<FieldError> errors) {
        Map<String, SdkField<?>> fields = new LinkedHashMap<>();
        pojo.sdkFields().forEach(f -> fields.put(f.locationName(), f));
        for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            SdkField<?> field = fields.get(e.getKey());
            String at = path + "." + e.getKey();
            if (field == null) {
                errors.add(new FieldError(at, "not a field of " + shapeOf(pojo) + " (it takes "
                        + String.join(", ", new TreeSet<>(fields.keySet())) + ")"));
                continue;
            }
            if (e.getValue().isNull()) {
                continue;
            }
            Object value = value(field, e.getValue(), at, errors);
            if (value != null) {
                field.set(pojo, value);
            }
        }
        List<String> required = new ArrayList<>(REQUIRED.getOrDefault(shapeOf(pojo), List.of()));
        pojo.sdkFields().stream().filter(f -> f.containsTrait(RequiredTrait.class))
                .forEach(f -> required.add(f.locationName()));
        if (shapeOf(pojo).equals("ResourceConfig") && !node.has("InstanceGroups")) {
            required.addAll(List.of("InstanceType", "InstanceCount"));
        }
        for (String field : new java.util.LinkedHashSet<>(required)) {
            if (!node.hasNonNull(field) && !filledByLaunch.contains(field)) {
                errors.add(new FieldError(path + "." + field, "is required by SageMaker in " + shapeOf(pojo)));
            }
        }
    }

    private static Object value(SdkField<?> field, JsonNode json, String at, List<FieldError> errors) {
        MarshallingType<?> type = field.marshallingType();
        if (type == MarshallingType.STRING) {
            return json.isTextual() ? json.asText() : wrong(at, "must be a string", errors);
        }
        if (type == MarshallingType.INTEGER) {
            return json.isIntegralNumber() && json.canConvertToInt() ? (Object) json.intValue()
                    : wrong(at, "must be an integer", errors);
        }
        if (type == MarshallingType.LONG) {
            return json.isIntegralNumber() && json.canConvertToLong() ? (Object) json.longValue()
                    : wrong(at, "must be an integer", errors);
        }
        if (type == MarshallingType.DOUBLE) {
            return json.isNumber() ? (Object) json.doubleValue() : wrong(at, "must be a number", errors);
        }
        if (type == MarshallingType.FLOAT) {
            return json.isNumber() ? (Object) json.floatValue() : wrong(at, "must be a number", errors);
        }
        if (type == MarshallingType.BIG_DECIMAL) {
            return json.isNumber() ? new BigDecimal(json.asText()) : wrong(at, "must be a number", errors);
        }
        if (type == MarshallingType.BOOLEAN) {
            return json.isBoolean() ? (Object) json.booleanValue() : wrong(at, "must be true or false", errors);
        }
        if (type == MarshallingType.INSTANT) {
            if (json.isNumber()) {
                return Instant.ofEpochMilli((long) (json.doubleValue() * 1000));
            }
            try {
                return Instant.parse(json.asText());
            } catch (java.time.format.DateTimeParseException e) {
                return wrong(at, "must be a time (epoch seconds or ISO-8601)", errors);
            }
        }
        if (type == MarshallingType.SDK_POJO) {
            if (!json.isObject()) {
                return wrong(at, "must be an object", errors);
            }
            SdkPojo nested = field.constructor().get();
            int before = errors.size();
            read(json, nested, at, Set.of(), errors);
            return errors.size() > before ? null : ((SdkBuilder<?, ?>) nested).build();
        }
        if (type == MarshallingType.LIST) {
            if (!json.isArray()) {
                return wrong(at, "must be a list", errors);
            }
            SdkField<?> member = field.getTrait(ListTrait.class).memberFieldInfo();
            List<Object> list = new ArrayList<>();
            for (int i = 0; i < json.size(); i++) {
                Object item = value(member, json.get(i), at + "[" + i + "]", errors);
                if (item != null) {
                    list.add(item);
                }
            }
            return list;
        }
        if (type == MarshallingType.MAP) {
            if (!json.isObject()) {
                return wrong(at, "must be an object of names to values", errors);
            }
            SdkField<?> member = field.getTrait(MapTrait.class).valueFieldInfo();
            Map<String, Object> map = new LinkedHashMap<>();
            json.fields().forEachRemaining(e -> {
                if (member.marshallingType() == MarshallingType.STRING && !e.getValue().isTextual()) {
                    errors.add(new FieldError(at + "." + e.getKey(), "must be a string (SageMaker takes string "
                            + "values only; quote it)"));
                    return;
                }
                Object item = value(member, e.getValue(), at + "." + e.getKey(), errors);
                if (item != null) {
                    map.put(e.getKey(), item);
                }
            });
            return map;
        }
        return wrong(at, "cannot be set in a queue's config", errors);
    }

    private static Object wrong(String at, String message, List<FieldError> errors) {
        errors.add(new FieldError(at, message));
        return null;
    }

    /** The shape's name: {@code ResourceConfig} for {@code ResourceConfig.BuilderImpl}. */
    private static String shapeOf(SdkPojo pojo) {
        Class<?> c = pojo.getClass();
        String name = c.getEnclosingClass() != null ? c.getEnclosingClass().getSimpleName() : c.getSimpleName();
        return name.endsWith("Request") ? name.substring(0, name.length() - "Request".length()) : name;
    }

    private static void placeholders(JsonNode node, String path, List<FieldError> errors) {
        if (node.isTextual()) {
            if (PLACEHOLDER.matcher(node.asText().trim()).matches()) {
                errors.add(new FieldError(path, "is a placeholder (" + node.asText().trim() + ") left from an "
                        + "example; put the real value here"));
            }
        } else if (node.isObject()) {
            node.fields().forEachRemaining(e -> placeholders(e.getValue(), path + "." + e.getKey(), errors));
        } else if (node.isArray()) {
            for (int i = 0; i < node.size(); i++) {
                placeholders(node.get(i), path + "[" + i + "]", errors);
            }
        }
    }

    private static void roleArn(String at, JsonNode value, List<FieldError> errors) {
        if (!value.isTextual() || !ROLE_ARN.matcher(value.asText()).matches()) {
            errors.add(new FieldError(at, "must be an IAM role ARN, arn:aws:iam::<12-digit account>:role/<name>; got "
                    + value + (value.asText().contains("account-id") ? " (the documentation's example)" : "")));
        }
    }

    private static void positive(JsonNode shape, String field, String path, List<FieldError> errors) {
        JsonNode value = shape.path(field);
        if (value.isIntegralNumber() && value.asLong() < 1) {
            errors.add(new FieldError(path + "." + field, "must be at least 1"));
        }
    }

    private static void s3(JsonNode value, String at, List<FieldError> errors) {
        if (value.isTextual() && !value.asText().startsWith("s3://") && !value.asText().startsWith("https://")) {
            errors.add(new FieldError(at, "must be an S3 URI (s3://bucket/prefix)"));
        }
    }
}
