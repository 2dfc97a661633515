package dev.launch.queue.service;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.launch.common.job.JobSource;
import dev.launch.common.problem.Problem;
import dev.launch.targetconfig.ContainerOptions;
import dev.launch.targetconfig.KubernetesManifest;
import dev.launch.targetconfig.SageMakerConfig;
import dev.launch.common.template.ConfigTemplate;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * The queue target types, what each can run, and how each checks a queue's {@code target} and {@code config}.
 * Adding a target adds one entry here (its checks beside it) and its package in the agent.
 */
public final class Targets {
    public static final String LOCAL_PROCESS = "local-process";
    /** Completes every run at once without starting anything: dry runs and benchmarks of the control plane. */
    public static final String NOOP = "noop";
    /** Each run is a container of the agent's docker-compatible engine. */
    public static final String LOCAL_CONTAINER = "local-container";
    /** Each run attempt is a Kubernetes Job made from the queue's manifest. */
    public static final String KUBERNETES = "kubernetes";
    /** Each run attempt is an Amazon SageMaker training job made from the queue's CreateTrainingJob body. */
    public static final String SAGEMAKER = "sagemaker";

    /** One target type: the sources it runs, and its checks of a queue's target and config. */
    interface TargetType {
        Set<String> sources();

        /** What is wrong with the queue's {@code target} object and its {@code config} template. */
        default List<Problem.FieldError> check(ObjectNode target, ObjectNode config) {
            List<Problem.FieldError> errors = new ArrayList<>();
            if (target.has("allow")) {
                errors.add(new Problem.FieldError("target.allow", "this target type takes no allow list"));
            }
            return errors;
        }

        /** What the queue's config asks for that Launch takes but does not act on (said in the answer). */
        default List<String> notes(ObjectNode config) {
            return List.of();
        }

        /** What to do about a job whose source the target does not run (the end of the 400's message). */
        default String sourcesHint() {
            return "Enqueue on a queue whose target runs images, or register the job from git or code.";
        }

        /**
         * What is wrong with launching {@code job} with {@code inputs} on this queue (its config filled with the
         * run's variables), beyond the config's own checks.
         */
        default List<Problem.FieldError> checkRun(ObjectNode config, JobSource source, JsonNode inputs) {
            return List.of();
        }
    }

    private static final TargetType LOCAL_PROCESS_TYPE = () -> Set.of(JobSource.CODE, JobSource.GIT);
    private static final TargetType NOOP_TYPE = () -> Set.of(JobSource.CODE, JobSource.GIT, JobSource.IMAGE);

    private static final TargetType LOCAL_CONTAINER_TYPE = new TargetType() {
        @Override
        public Set<String> sources() {
            return Set.of(JobSource.IMAGE, JobSource.CODE, JobSource.GIT);
        }

        @Override
        public List<Problem.FieldError> check(ObjectNode target, ObjectNode config) {
            List<Problem.FieldError> errors = new ArrayList<>();
            Set<String> allow = new HashSet<>();
            JsonNode list = target.get("allow");
            if (list != null) {
                if (!list.isArray()) {
                    errors.add(new Problem.FieldError("target.allow", "must be a list of option names, e.g. "
                            + "[\"privileged\", \"network=host\"]"));
                } else {
                    list.forEach(a -> {
                        if (a.isTextual() && !a.asText().isBlank()) {
                            allow.add(a.asText().trim().replace('_', '-'));
                        } else {
                            errors.add(new Problem.FieldError("target.allow", "each entry must be an option name "
                                    + "(\"cap-add\") or an option=value (\"network=host\"); got " + a));
                        }
                    });
                }
            }
            target.fieldNames().forEachRemaining(field -> {
                if (!field.equals("type") && !field.equals("allow")) {
                    errors.add(new Problem.FieldError("target." + field, "not a field of a local-container target "
                            + "(it takes type and allow; container options go in config)"));
                }
            });
            errors.addAll(ContainerOptions.check(config, allow));
            return errors;
        }

        @Override
        public List<String> notes(ObjectNode config) {
            List<String> notes = new ArrayList<>();
            if (config != null && config.has("builder")) {
                notes.add("config.builder is kept for the image builds to come; it has no effect yet (jobs from "
                        + "code or git run in the agent's base image with their code mounted at /workspace)");
            }
            if (config != null && config.has("rm")) {
                notes.add("config.rm is ignored: Launch removes each container itself once it has reported the "
                        + "run's end");
            }
            return notes;
        }
    };

    private static final TargetType KUBERNETES_TYPE = new TargetType() {
        @Override
        public Set<String> sources() {
            return Set.of(JobSource.IMAGE, JobSource.CODE, JobSource.GIT);
        }

        @Override
        public List<Problem.FieldError> check(ObjectNode target, ObjectNode config) {
            List<Problem.FieldError> errors = new ArrayList<>();
            Set<String> allow = allowList(target, errors, KubernetesManifest.ALLOWABLE);
            target.fieldNames().forEachRemaining(field -> {
                if (!Set.of("type", "allow", "namespace", "container", "status").contains(field)) {
                    errors.add(new Problem.FieldError("target." + field, "not a field of a kubernetes target (it "
                            + "takes type, namespace, container, status and allow; the manifest goes in config)"));
                }
            });
            JsonNode namespace = target.get("namespace");
            if (namespace != null && (!namespace.isTextual()
                    || !namespace.asText().matches("[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"))) {
                errors.add(new Problem.FieldError("target.namespace", "must be a namespace name (lower-case letters, "
                        + "digits and '-', at most 63)"));
            }
            JsonNode container = target.get("container");
            if (container != null && !container.isTextual()) {
                errors.add(new Problem.FieldError("target.container", "must be the name of a container of the pod"));
            }
            errors.addAll(KubernetesManifest.check(config, allow, container == null ? null : container.asText(),
                    target.get("status")));
            return errors;
        }

        @Override
        public List<String> notes(ObjectNode config) {
            List<String> notes = new ArrayList<>();
            ObjectNode manifest = config != null && config.path("kubernetes").isObject()
                    ? (ObjectNode) config.get("kubernetes") : config;
            if (manifest != null && manifest.has("builder")) {
                notes.add("config.builder is kept for the image builds to come; it has no effect yet (kubernetes "
                        + "queues run jobs made from an image)");
            }
            if (config != null && config.has("kubernetes")) {
                notes.add("config.kubernetes: the manifest was read from inside its 'kubernetes:' wrapper");
            }
            return notes;
        }
    };

    private static final TargetType SAGEMAKER_TYPE = new TargetType() {
        @Override
        public Set<String> sources() {
            return Set.of(JobSource.IMAGE);
        }

        @Override
        public List<Problem.FieldError> check(ObjectNode target, ObjectNode config) {
            List<Problem.FieldError> errors = new ArrayList<>(SageMakerConfig.checkTarget(target));
            errors.addAll(SageMakerConfig.check(target, config));
            return errors;
        }

        @Override
        public String sourcesHint() {
            return "SageMaker runs container images: register the job with an image in Amazon ECR (Launch builds "
                    + "no images from code or git yet).";
        }

        @Override
        public List<Problem.FieldError> checkRun(ObjectNode config, JobSource source, JsonNode inputs) {
            List<Problem.FieldError> errors = new ArrayList<>();
            String image = SageMakerConfig.imageProblem(source.image(), config);
            if (image != null) {
                errors.add(new Problem.FieldError("job", image));
            }
            // LAUNCH_INPUTS is the one value of the run's environment (design §6) whose size the user decides
            int length = inputs == null ? 2 : inputs.toString().length();
            if (length > SageMakerConfig.MAX_ENVIRONMENT_VALUE) {
                errors.add(new Problem.FieldError("inputs", "the run's inputs are " + length + " characters as JSON "
                        + "(LAUNCH_INPUTS) and SageMaker takes at most " + SageMakerConfig.MAX_ENVIRONMENT_VALUE
                        + " per environment value: pass large inputs as data (InputDataConfig) or in S3"));
            }
            int entries = SageMakerConfig.body(config) == null ? 0
                    : SageMakerConfig.body(config).path("Environment").size();
            if (entries + 5 > SageMakerConfig.MAX_ENVIRONMENT_ENTRIES) {
                errors.add(new Problem.FieldError("config.Environment", "has " + entries + " variables; with "
                        + "Launch's 5 that is over SageMaker's " + SageMakerConfig.MAX_ENVIRONMENT_ENTRIES));
            }
            return errors;
        }

        @Override
        public List<String> notes(ObjectNode config) {
            List<String> notes = new ArrayList<>();
            ObjectNode body = SageMakerConfig.body(config);
            if (SageMakerConfig.wrapped(config)) {
                notes.add("config.sagemaker: the CreateTrainingJob body was read from inside its 'sagemaker:' "
                        + "wrapper");
            }
            if (body != null && body.has("TrainingJobName")) {
                notes.add("config.TrainingJobName is replaced: each attempt's training job is named "
                        + "launch-<runId>-<attempt>, so an agent finds it again and never creates it twice");
            }
            if (body != null && body.has("EcrRepoName")) {
                notes.add("config.EcrRepoName is ignored: Launch builds no images yet; the job's image is used");
            }
            return notes;
        }
    };

    /** A target's {@code allow} list: names from {@code allowable} (any name when null). */
    private static Set<String> allowList(ObjectNode target, List<Problem.FieldError> errors, Set<String> allowable) {
        Set<String> allow = new HashSet<>();
        JsonNode list = target.get("allow");
        if (list == null) {
            return allow;
        }
        if (!list.isArray()) {
            errors.add(new Problem.FieldError("target.allow", "must be a list of field names, e.g. "
                    + "[\"shareProcessNamespace\"]"));
            return allow;
        }
        list.forEach(a -> {
            if (a.isTextual() && (allowable == null || allowable.contains(a.asText()))) {
                allow.add(a.asText());
            } else {
                errors.add(new Problem.FieldError("target.allow", "cannot allow " + a + "; it may name "
                        + new java.util.TreeSet<>(allowable)));
            }
        });
        return allow;
    }

    private static final Map<String, TargetType> TYPES = new TreeMap<>(Map.of(
            LOCAL_PROCESS, LOCAL_PROCESS_TYPE,
            NOOP, NOOP_TYPE,
            LOCAL_CONTAINER, LOCAL_CONTAINER_TYPE,
            KUBERNETES, KUBERNETES_TYPE,
            SAGEMAKER, SAGEMAKER_TYPE));

    private static final Set<String> PLANNED = Set.of();

    private Targets() {
    }

    public static boolean isSupported(String type) {
        return TYPES.containsKey(type);
    }

    public static boolean isPlanned(String type) {
        return PLANNED.contains(type);
    }

    public static Set<String> supported() {
        return TYPES.keySet();
    }

    public static boolean accepts(String targetType, String sourceType) {
        return sourcesOf(targetType).contains(sourceType);
    }

    /** What to do about a job whose source {@code targetType} does not run. */
    public static String sourcesHint(String targetType) {
        return TYPES.get(targetType).sourcesHint();
    }

    /** The target's checks of one run's job and inputs on its queue's filled config (at enqueue). */
    public static List<Problem.FieldError> checkRun(String targetType, ObjectNode config, JobSource source,
                                                    JsonNode inputs) {
        return TYPES.get(targetType).checkRun(config, source, inputs);
    }

    public static Set<String> sourcesOf(String targetType) {
        TargetType t = TYPES.get(targetType);
        return t == null ? Set.of() : t.sources();
    }

    /**
     * The checks of the target type named in {@code target} (a supported one), on {@code config} as a run would see
     * it: each declared {@code {{variable}}} filled with a value its schema allows (its default, else its first
     * enum value, else its minimum), so a typed check sees a number where a number goes.
     */
    public static List<Problem.FieldError> check(ObjectNode target, ObjectNode config, ObjectNode variables) {
        return TYPES.get(target.get("type").asText()).check(target, sample(config, variables));
    }

    /** The checks on {@code config} with its variables already filled (at enqueue). */
    public static List<Problem.FieldError> checkFilled(ObjectNode target, ObjectNode config) {
        return TYPES.get(target.get("type").asText()).check(target, config);
    }

    private static ObjectNode sample(ObjectNode config, ObjectNode variables) {
        if (config == null) {
            return null;
        }
        Map<String, JsonNode> values = new java.util.HashMap<>();
        for (String name : ConfigTemplate.variablesIn(config)) {
            JsonNode declared = variables == null ? null : variables.get(name);
            if (declared == null) {
                continue; // refused elsewhere: used but not declared
            }
            JsonNode schema = declared.path("schema");
            JsonNode value = declared.has("default") ? declared.get("default")
                    : schema.path("enum").isArray() && !schema.path("enum").isEmpty() ? schema.get("enum").get(0)
                    : schema.has("minimum") ? schema.get("minimum")
                    : switch (schema.path("type").asText()) {
                        case "integer" -> com.fasterxml.jackson.databind.node.IntNode.valueOf(1);
                        case "number" -> com.fasterxml.jackson.databind.node.DoubleNode.valueOf(1.0);
                        default -> com.fasterxml.jackson.databind.node.TextNode.valueOf("x");
                    };
            values.put(name, value);
        }
        try {
            JsonNode filled = ConfigTemplate.fillVariables(config, values);
            return filled instanceof ObjectNode o ? o : config;
        } catch (IllegalArgumentException e) {
            return config; // an undeclared variable: said by the caller
        }
    }

    public static List<String> notes(ObjectNode target, ObjectNode config) {
        TargetType t = target == null ? null : TYPES.get(target.path("type").asText());
        return t == null ? List.of() : t.notes(config);
    }
}
