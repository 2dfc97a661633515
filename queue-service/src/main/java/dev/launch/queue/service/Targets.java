package dev.launch.queue.service;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.launch.common.job.JobSource;
import dev.launch.common.problem.Problem;
import dev.launch.common.target.ContainerOptions;

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

    private static final Map<String, TargetType> TYPES = new TreeMap<>(Map.of(
            LOCAL_PROCESS, LOCAL_PROCESS_TYPE,
            NOOP, NOOP_TYPE,
            LOCAL_CONTAINER, LOCAL_CONTAINER_TYPE));

    private static final Set<String> PLANNED = Set.of("kubernetes", "sagemaker");

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

    public static Set<String> sourcesOf(String targetType) {
        TargetType t = TYPES.get(targetType);
        return t == null ? Set.of() : t.sources();
    }

    /** The checks of the target type named in {@code target} (a supported one). */
    public static List<Problem.FieldError> check(ObjectNode target, ObjectNode config) {
        return TYPES.get(target.get("type").asText()).check(target, config);
    }

    public static List<String> notes(ObjectNode target, ObjectNode config) {
        TargetType t = target == null ? null : TYPES.get(target.path("type").asText());
        return t == null ? List.of() : t.notes(config);
    }
}
