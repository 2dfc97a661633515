package dev.launch.targetconfig;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.BeanDescription;
import com.fasterxml.jackson.databind.DeserializationConfig;
import com.fasterxml.jackson.databind.DeserializationContext;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonDeserializer;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.deser.BeanDeserializerBuilder;
import com.fasterxml.jackson.databind.deser.BeanDeserializerModifier;
import com.fasterxml.jackson.databind.deser.DeserializationProblemHandler;
import com.fasterxml.jackson.databind.module.SimpleModule;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.launch.common.problem.Problem.FieldError;
import io.fabric8.kubernetes.api.model.ObjectMeta;
import io.fabric8.kubernetes.api.model.batch.v1.Job;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * A kubernetes queue's {@code config}: the workload manifest, as W&B Launch stores it. A {@code batch/v1} Job when
 * {@code apiVersion}/{@code kind} are absent; top-level {@code metadata}, {@code spec}, a bare {@code namespace}
 * (and W&B's {@code builder}, {@code context}, {@code configFile}, kept and not acted on); one top-level
 * {@code kubernetes:} wrapper (W&B's {@code resource_args} form) is taken off, two are refused.
 *
 * <p>Checked where a queue is made and again where a run is launched: a Job parses into fabric8's typed model
 * with every unknown field refused by its path (W&B's docs put {@code volumeMounts} inside {@code resources};
 * Kubernetes would drop it without a word), and what would give a run more than its own pod — {@code hostPath}
 * volumes, host namespaces, privileged or escalating security contexts, a shared process namespace, a named
 * service account — is refused unless the queue's {@code allow} list names it. A placeholder left from a
 * published example ({@code <DOCKER_IMAGE>}) is refused where it would be used; the main container's image is
 * replaced by the job's and may keep one.
 */
public final class KubernetesManifest {
    public static final String JOB_API_VERSION = "batch/v1";
    public static final String JOB_KIND = "Job";
    /** W&B's top-level keys of a kubernetes queue config. */
    public static final Set<String> TOP_LEVEL = Set.of("apiVersion", "kind", "metadata", "spec", "namespace",
            "builder", "context", "configFile");
    /** What a queue's {@code allow} list may name. */
    public static final Set<String> ALLOWABLE = Set.of("hostPath", "hostNetwork", "hostPID", "hostIPC",
            "privileged", "allowPrivilegeEscalation", "capabilities", "procMount", "shareProcessNamespace",
            "serviceAccountName");
    private static final Pattern PLACEHOLDER = Pattern.compile("<[A-Za-z][A-Za-z0-9_ -]*>");
    private static final Pattern DNS_LABEL = Pattern.compile("[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?");

    /** Reads Jobs the way the API server would, but says which fields it does not know instead of dropping them. */
    private static final ObjectMapper STRICT = new ObjectMapper()
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, true)
            .registerModule(new SimpleModule().setDeserializerModifier(new BeanDeserializerModifier() {
                @Override
                public BeanDeserializerBuilder updateBuilder(DeserializationConfig config, BeanDescription bean,
                                                             BeanDeserializerBuilder builder) {
                    if (bean.getBeanClass().getName().startsWith("io.fabric8.")) {
                        builder.setAnySetter(null); // fabric8 keeps unknown fields in additionalProperties
                    }
                    return builder;
                }
            }))
            // one mapper for every check (its deserializers of the whole Kubernetes model are built once): each
            // read collects its unknown fields in an attribute of its own
            .addHandler(new DeserializationProblemHandler() {
                @Override
                public boolean handleUnknownProperty(DeserializationContext ctxt, JsonParser p, JsonDeserializer<?> deser,
                                                     Object bean, String property) throws java.io.IOException {
                    @SuppressWarnings("unchecked")
                    List<FieldError> unknown = (List<FieldError>) ctxt.getAttribute(UNKNOWN);
                    String path = (String) ctxt.getAttribute(PATH);
                    unknown.add(new FieldError(path + dotted(p.getParsingContext().pathAsPointer().toString()),
                            "not a field of " + simpleName(bean) + "; Kubernetes would drop it without a word. Check "
                                    + "its place (volumeMounts belongs beside resources, in the container)"));
                    p.skipChildren();
                    return true;
                }
            });
    private static final String UNKNOWN = "launch.unknown-fields";
    private static final String PATH = "launch.path";

    private KubernetesManifest() {
    }

    /** The manifest and the path its fields are named under in errors ({@code config} or {@code config.kubernetes}). */
    public record Workload(ObjectNode manifest, String path) {
        public String apiVersion() {
            return manifest.path("apiVersion").asText(JOB_API_VERSION);
        }

        public String kind() {
            return manifest.path("kind").asText(JOB_KIND);
        }

        public boolean isJob() {
            return JOB_API_VERSION.equals(apiVersion()) && JOB_KIND.equals(kind());
        }

        /** {@code metadata.namespace}, else the bare {@code namespace}; null when neither is set. */
        public String namespace() {
            String inMeta = manifest.path("metadata").path("namespace").asText(null);
            return inMeta != null ? inMeta : manifest.path("namespace").asText(null);
        }

        /**
         * The workload as it is sent: {@code apiVersion}, {@code kind}, {@code metadata} and {@code spec} only
         * (a bare namespace moves into metadata; W&B's builder keys stay behind).
         */
        public ObjectNode resource() {
            ObjectNode out = JsonNodeFactory.instance.objectNode();
            out.put("apiVersion", apiVersion());
            out.put("kind", kind());
            ObjectNode metadata = manifest.path("metadata").isObject()
                    ? ((ObjectNode) manifest.get("metadata")).deepCopy() : JsonNodeFactory.instance.objectNode();
            if (!metadata.has("namespace") && namespace() != null) {
                metadata.put("namespace", namespace());
            }
            out.set("metadata", metadata);
            out.set("spec", manifest.path("spec").isObject() ? manifest.get("spec").deepCopy()
                    : JsonNodeFactory.instance.objectNode());
            return out;
        }
    }

    /** The workload of {@code config}, with its wrapper taken off; null (and an error) when it cannot be read. */
    public static Workload workload(JsonNode config, List<FieldError> errors) {
        if (config == null || config.isNull() || (config.isObject() && config.isEmpty())) {
            return new Workload(JsonNodeFactory.instance.objectNode(), "config");
        }
        if (!config.isObject()) {
            errors.add(new FieldError("config", "must be a Kubernetes workload manifest (an object with metadata "
                    + "and spec)"));
            return null;
        }
        String path = "config";
        ObjectNode manifest = (ObjectNode) config;
        if (manifest.has("kubernetes")) {
            JsonNode inner = manifest.get("kubernetes");
            if (manifest.size() > 1 || !inner.isObject()) {
                errors.add(new FieldError("config.kubernetes", "a 'kubernetes:' wrapper must be the config's only "
                        + "key, holding the manifest; or leave it out and give the manifest itself"));
                return null;
            }
            if (inner.has("kubernetes")) {
                errors.add(new FieldError("config.kubernetes.kubernetes", "the manifest is wrapped in 'kubernetes:' "
                        + "twice (a helper that adds its own wrapper); keep at most one, or none"));
                return null;
            }
            manifest = (ObjectNode) inner;
            path = "config.kubernetes";
        }
        boolean ok = true;
        for (Iterator<String> it = manifest.fieldNames(); it.hasNext(); ) {
            String key = it.next();
            if (!TOP_LEVEL.contains(key)) {
                errors.add(new FieldError(path + "." + key, "not a top-level field of a workload manifest; it takes "
                        + "apiVersion, kind, metadata, spec and namespace (the pod goes in spec.template)"));
                ok = false;
            }
        }
        return ok ? new Workload(manifest, path) : null;
    }

    /**
     * What is wrong with {@code config} (variables already filled): its shape, unknown fields, refused fields not
     * in {@code allow}, placeholders, and the main container ({@code container}, else the first) when it names one.
     */
    public static List<FieldError> check(JsonNode config, Set<String> allow, String container) {
        return check(config, allow, container, null);
    }

    /**
     * As above, for any workload kind: a custom one ({@code PyTorchJob}, a Volcano {@code Job}) needs a
     * {@link StatusRule} — a known default or the target's {@code status} — and at least one pod template, each
     * read strictly as Kubernetes' {@code PodTemplateSpec}.
     */
    public static List<FieldError> check(JsonNode config, Set<String> allow, String container, JsonNode status) {
        List<FieldError> errors = new ArrayList<>();
        Workload workload = workload(config, errors);
        if (workload == null) {
            return errors;
        }
        ObjectNode manifest = workload.manifest();
        String path = workload.path();
        for (String field : List.of("apiVersion", "kind")) {
            if (manifest.has(field) && !manifest.get(field).isTextual()) {
                errors.add(new FieldError(path + "." + field, "must be a string"));
            }
        }
        String namespace = workload.namespace();
        if (namespace != null && !namespace.contains("${") && !DNS_LABEL.matcher(namespace).matches()) {
            errors.add(new FieldError(path + (manifest.path("metadata").has("namespace") ? ".metadata.namespace"
                    : ".namespace"), "'" + namespace + "' is not a namespace name (lower-case letters, digits and "
                    + "'-', at most 63)" + (PLACEHOLDER.matcher(namespace).matches()
                    ? "; it is a placeholder from an example: put the namespace the agent may use" : "")));
        }
        Set<String> mainImages = new java.util.HashSet<>();
        if (workload.isJob()) {
            if (manifest.has("apiVersion") != manifest.has("kind")) {
                errors.add(new FieldError(path + (manifest.has("kind") ? ".apiVersion" : ".kind"), "give apiVersion "
                        + "and kind together (both absent means a batch/v1 Job)"));
            }
            Job job = parse(workload.resource(), Job.class, path, errors);
            if (job != null) {
                String main = mainImagePath(job, container, path, errors);
                if (main != null) {
                    mainImages.add(main);
                }
            }
        } else {
            if (!workload.apiVersion().contains("/")) {
                errors.add(new FieldError(path + ".apiVersion", "'" + workload.apiVersion() + " " + workload.kind()
                        + "' is not a workload Launch can watch to its end; use a batch/v1 Job (leave apiVersion and "
                        + "kind out) or a custom workload of an operator (kubeflow.org/v1 PyTorchJob ...)"));
            }
            if (manifest.has("metadata")) {
                parse(manifest.get("metadata"), ObjectMeta.class, path + ".metadata", errors);
            }
            StatusRule.of(workload.apiVersion(), workload.kind(), status, errors);
            List<Map.Entry<String, ObjectNode>> templates = podTemplates(manifest.path("spec"), path + ".spec");
            if (templates.isEmpty()) {
                errors.add(new FieldError(path + ".spec", "no pod template found in the " + workload.kind()
                        + " (an object 'template' with spec.containers); the run's image and environment go there"));
            }
            for (Map.Entry<String, ObjectNode> template : templates) {
                io.fabric8.kubernetes.api.model.PodTemplateSpec pod = parse(template.getValue(),
                        io.fabric8.kubernetes.api.model.PodTemplateSpec.class, template.getKey(), errors);
                if (pod != null) {
                    int index = mainContainer(pod.getSpec() == null ? List.of() : pod.getSpec().getContainers(),
                            container);
                    if (index < 0) {
                        errors.add(new FieldError("target.container", "no container of the pod template at "
                                + template.getKey() + " is named '" + container + "'"));
                    } else {
                        mainImages.add(template.getKey() + ".spec.containers[" + index + "].image");
                    }
                }
            }
        }
        refuse(manifest, path, allow, errors);
        placeholders(manifest, path, mainImages, errors);
        return errors;
    }

    /**
     * The pod templates of a custom workload, by path: every object under a key {@code template} that has
     * {@code spec.containers} (a PyTorchJob's {@code pytorchReplicaSpecs.*.template}, a Volcano Job's
     * {@code tasks[*].template}, a JobSet's {@code replicatedJobs[*].template.spec.template}).
     */
    public static List<Map.Entry<String, ObjectNode>> podTemplates(JsonNode node, String path) {
        List<Map.Entry<String, ObjectNode>> found = new ArrayList<>();
        collectTemplates(node, path, found);
        return found;
    }

    private static void collectTemplates(JsonNode node, String path, List<Map.Entry<String, ObjectNode>> found) {
        if (node.isArray()) {
            for (int i = 0; i < node.size(); i++) {
                collectTemplates(node.get(i), path + "[" + i + "]", found);
            }
        } else if (node.isObject()) {
            node.fields().forEachRemaining(field -> {
                JsonNode value = field.getValue();
                String at = path + "." + field.getKey();
                if (field.getKey().equals("template") && value.isObject() && value.path("spec").path("containers")
                        .isArray()) {
                    found.add(Map.entry(at, (ObjectNode) value));
                } else {
                    collectTemplates(value, at, found);
                }
            });
        }
    }

    /**
     * The index of the container the run's image, command and environment go on: the one named {@code container},
     * else the first; -1 when a named one is missing, 0 when the pod has no containers yet (one is added).
     */
    public static int mainContainer(List<io.fabric8.kubernetes.api.model.Container> containers, String container) {
        if (container == null) {
            return 0;
        }
        for (int i = 0; i < containers.size(); i++) {
            if (container.equals(containers.get(i).getName())) {
                return i;
            }
        }
        return -1;
    }

    /** Where the main container's image is, e.g. {@code config.spec.template.spec.containers[0].image}. */
    private static String mainImagePath(Job job, String container, String path, List<FieldError> errors) {
        var pod = job.getSpec() == null || job.getSpec().getTemplate() == null ? null
                : job.getSpec().getTemplate().getSpec();
        var containers = pod == null || pod.getContainers() == null ? List.<io.fabric8.kubernetes.api.model.Container>of()
                : pod.getContainers();
        int count = containers.size();
        int index = mainContainer(containers, container);
        if (container != null && index < 0) {
            errors.add(new FieldError("target.container", "no container of the Job's pod is named '" + container + "'"
                    + (count == 0 ? " (it has none)" : "")));
            return null;
        }
        return path + ".spec.template.spec.containers[" + Math.max(index, 0) + "].image";
    }

    /** Parses a Job strictly; throws with every problem named when it is not one. */
    public static Job job(ObjectNode resource) {
        List<FieldError> errors = new ArrayList<>();
        Job job = parse(resource, Job.class, "config", errors);
        if (!errors.isEmpty()) {
            throw new IllegalArgumentException(errors.stream().map(e -> e.field() + ": " + e.message()).toList()
                    .toString());
        }
        return job;
    }

    private static <T> T parse(JsonNode node, Class<T> type, String path, List<FieldError> errors) {
        List<FieldError> unknown = new ArrayList<>();
        try {
            T value = STRICT.readerFor(type).withAttribute(UNKNOWN, unknown).withAttribute(PATH, path)
                    .readValue(STRICT.treeAsTokens(node));
            errors.addAll(unknown);
            return unknown.isEmpty() ? value : null;
        } catch (JsonMappingException e) {
            errors.addAll(unknown);
            StringBuilder at = new StringBuilder(path);
            for (JsonMappingException.Reference ref : e.getPath()) {
                at.append(ref.getFieldName() != null ? "." + ref.getFieldName() : "[" + ref.getIndex() + "]");
            }
            errors.add(new FieldError(at.toString(), "cannot be read as Kubernetes reads it: "
                    + e.getOriginalMessage().split("\n")[0]));
            return null;
        } catch (java.io.IOException | IllegalArgumentException e) {
            errors.add(new FieldError(path, "cannot be read as a Kubernetes " + type.getSimpleName() + ": "
                    + e.getMessage()));
            return null;
        }
    }

    private static String simpleName(Object bean) {
        Class<?> type = bean instanceof Class<?> c ? c : bean.getClass();
        return type.getSimpleName();
    }

    /** {@code /spec/template/containers/0/image} as {@code .spec.template.containers[0].image}. */
    static String dotted(String pointer) {
        StringBuilder out = new StringBuilder();
        for (String segment : pointer.split("/")) {
            if (segment.isEmpty()) {
                continue;
            }
            String name = segment.replace("~1", "/").replace("~0", "~");
            out.append(name.chars().allMatch(Character::isDigit) ? "[" + name + "]" : "." + name);
        }
        return out.toString();
    }

    /** Fields that give a run more than its own pod, refused anywhere in the manifest unless allowed by name. */
    private static void refuse(JsonNode node, String path, Set<String> allow, List<FieldError> errors) {
        if (node.isArray()) {
            for (int i = 0; i < node.size(); i++) {
                refuse(node.get(i), path + "[" + i + "]", allow, errors);
            }
            return;
        }
        if (!node.isObject()) {
            return;
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> field = it.next();
            String key = field.getKey();
            JsonNode value = field.getValue();
            String at = path + "." + key;
            String why = switch (key) {
                case "hostPath" -> "a hostPath volume mounts the node's own filesystem into the run";
                case "hostNetwork", "hostPID", "hostIPC" -> value.asBoolean(false)
                        ? "shares the node's " + key.substring(4).toLowerCase() + " namespace with the run" : null;
                case "privileged" -> value.asBoolean(false) ? "a privileged container controls the node" : null;
                case "allowPrivilegeEscalation" -> value.asBoolean(false)
                        ? "lets the run's processes gain more privileges than they start with" : null;
                case "capabilities" -> value.path("add").isArray() && !value.path("add").isEmpty()
                        ? "adds Linux capabilities " + value.get("add") : null;
                case "procMount" -> "Unmasked".equals(value.asText()) ? "unmasks the node's /proc" : null;
                case "shareProcessNamespace" -> value.asBoolean(false)
                        ? "lets the pod's containers see and signal each other's processes" : null;
                case "serviceAccountName", "serviceAccount" -> value.asText("").isEmpty() ? null
                        : "gives the run the Kubernetes API rights of service account '" + value.asText() + "'";
                default -> null;
            };
            String name = key.equals("serviceAccount") ? "serviceAccountName" : key;
            if (why != null && !allow.contains(name)) {
                errors.add(new FieldError(at, "refused: " + why + ". A queue whose runs need it names it in "
                        + "target.allow: [\"" + name + "\"]"));
            }
            if (why == null || !allow.contains(name)) {
                refuse(value, at, allow, errors);
            }
        }
    }

    /** A placeholder from a published example left where a value is used (the main image is replaced anyway). */
    private static void placeholders(JsonNode node, String path, Set<String> mainImagePaths, List<FieldError> errors) {
        if (node.isTextual()) {
            String text = node.asText();
            if (PLACEHOLDER.matcher(text).matches() && !mainImagePaths.contains(path)
                    && !path.endsWith(".namespace")) { // a namespace placeholder is said above
                errors.add(new FieldError(path, "'" + text + "' is a placeholder from an example; put the real value"));
            }
        } else if (node.isArray()) {
            for (int i = 0; i < node.size(); i++) {
                placeholders(node.get(i), path + "[" + i + "]", mainImagePaths, errors);
            }
        } else if (node.isObject()) {
            node.fields().forEachRemaining(f -> placeholders(f.getValue(), path + "." + f.getKey(), mainImagePaths,
                    errors));
        }
    }
}
