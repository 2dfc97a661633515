package dev.launch.agent.target.kubernetes;

import com.fasterxml.jackson.databind.JsonNode;
import dev.launch.agent.target.RunEnvironment;
import dev.launch.common.event.RunRequest;
import dev.launch.common.problem.Problem;
import dev.launch.targetconfig.KubernetesManifest;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.ObjectMeta;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.api.model.batch.v1.JobSpec;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The Job of one run attempt, made from the queue's manifest (variables filled at enqueue, macros by the agent):
 * named by the handle (any {@code metadata.name} or {@code generateName} of the config is replaced), labelled on
 * the Job and its pod template, the job's image, command and the run's environment on the main container (the
 * one {@code target.container} names, else the first; one is added when the pod has none), and Launch's defaults
 * where the config is silent: {@code backoffLimit: 0}, {@code restartPolicy: Never}, a day's
 * {@code ttlSecondsAfterFinished}. Environment entries of the config stay, Secret references included: their
 * values never pass through Launch.
 */
final class Workloads {
    static final String RUN_ID = "launch.run-id";
    static final String QUEUE = "launch.queue";
    static final String ATTEMPT = "launch.attempt";
    static final String INSTALLATION = "launch.installation";
    static final String MAIN_CONTAINER = "run";

    private Workloads() {
    }

    /** The namespace of the run's work: the target's, else the manifest's, else {@code fallback}. */
    static String namespace(RunRequest request, String fallback) {
        String own = request.target().path("namespace").asText(null);
        if (own != null && !own.isBlank()) {
            return own;
        }
        KubernetesManifest.Workload workload = KubernetesManifest.workload(config(request), new ArrayList<>());
        String declared = workload == null ? null : workload.namespace();
        return declared != null && !declared.isBlank() ? declared : fallback;
    }

    private static JsonNode config(RunRequest request) {
        JsonNode config = request.target().get("config");
        return config == null || config.isNull() ? null : config;
    }

    /** The container the run goes on, by name, once {@link #job} has made the Job. */
    static String mainContainer(Job job, RunRequest request) {
        String named = request.target().path("container").asText(null);
        if (named != null) {
            return named;
        }
        List<Container> containers = job.getSpec().getTemplate().getSpec().getContainers();
        return containers.get(0).getName();
    }

    /**
     * The attempt's Job.
     *
     * @throws IllegalArgumentException with every problem of the manifest named, when it cannot be one
     */
    static Job job(RunRequest request, String handle, String namespace, String installation, Duration ttl,
                   Sources sources) {
        Job job = KubernetesManifest.job(checked(request).resource());
        Map<String, String> labels = labels(request, installation);

        ObjectMeta meta = job.getMetadata() == null ? new ObjectMeta() : job.getMetadata();
        meta.setName(handle);
        meta.setGenerateName(null);
        meta.setNamespace(namespace);
        meta.setResourceVersion(null);
        meta.setUid(null);
        meta.setLabels(merged(meta.getLabels(), labels));
        job.setMetadata(meta);

        JobSpec spec = job.getSpec() == null ? new JobSpec() : job.getSpec();
        if (spec.getBackoffLimit() == null) {
            spec.setBackoffLimit(0);
        }
        if (spec.getTtlSecondsAfterFinished() == null) {
            spec.setTtlSecondsAfterFinished((int) Math.min(Integer.MAX_VALUE, ttl.toSeconds()));
        }
        PodTemplateSpec template = spec.getTemplate() == null ? new PodTemplateSpec() : spec.getTemplate();
        prepare(template, request, labels, sources);
        if (template.getSpec().getRestartPolicy() == null) {
            template.getSpec().setRestartPolicy("Never");
        }
        spec.setTemplate(template);
        job.setSpec(spec);
        return job;
    }

    /** Where the code of {@code code} and {@code git} jobs comes from in a pod, and what runs it. */
    record Sources(String baseImage, String fetchImage, String gitImage, java.util.Optional<String> snapshotUrl) {
    }

    /** A job's source cannot be fetched in a pod (no snapshot URL is configured): a build failure. */
    static final class SourceUnavailable extends RuntimeException {
        SourceUnavailable(String message) {
            super(message);
        }
    }

    static final String WORKSPACE = "/workspace";

    private static io.fabric8.kubernetes.api.model.VolumeMount workspaceMount() {
        return new io.fabric8.kubernetes.api.model.VolumeMountBuilder().withName("launch-workspace")
                .withMountPath(WORKSPACE).build();
    }
    private static final String WORKSPACE_VOLUME = "launch-workspace";

    /**
     * Labels a pod template and puts the run on its main container (the one {@code target.container} names,
     * else the first; one is added when it has none): the job's image, or for {@code code} and {@code git} jobs
     * the base image with the code fetched into {@code /workspace} by an init container (the snapshot downloaded
     * from the job service, or the commit checked out of the git remote); the entrypoint as {@code command}; the
     * run's environment beside the config's own entries.
     */
    static void prepare(PodTemplateSpec template, RunRequest request, Map<String, String> labels, Sources sources) {
        ObjectMeta podMeta = template.getMetadata() == null ? new ObjectMeta() : template.getMetadata();
        podMeta.setLabels(merged(podMeta.getLabels(), labels));
        template.setMetadata(podMeta);
        PodSpec pod = template.getSpec() == null ? new PodSpec() : template.getSpec();
        List<Container> containers = pod.getContainers() == null ? new ArrayList<>() : new ArrayList<>(pod.getContainers());
        int main = KubernetesManifest.mainContainer(containers, request.target().path("container").asText(null));
        if (containers.isEmpty()) {
            containers.add(new Container());
            main = 0;
        }
        Container run = containers.get(Math.max(main, 0));
        if (run.getName() == null || run.getName().isBlank()) {
            run.setName(MAIN_CONTAINER);
        }
        if (!request.command().isEmpty()) {
            run.setCommand(List.copyOf(request.command()));
            run.setArgs(null);
        }
        Map<String, String> env = new java.util.LinkedHashMap<>(RunEnvironment.of(request));
        String type = request.source().type();
        if (dev.launch.common.job.JobSource.IMAGE.equals(type)) {
            run.setImage(request.source().image());
        } else {
            Container fetch;
            if (dev.launch.common.job.JobSource.CODE.equals(type)) {
                String base = sources.snapshotUrl().orElseThrow(() -> new SourceUnavailable("a code job runs on "
                        + "Kubernetes from its snapshot, downloaded from the job service: set "
                        + "LAUNCH_KUBERNETES_SNAPSHOT_URL to the job service's address as the cluster reaches it"));
                String url = base.replaceAll("/+$", "") + "/api/v1/jobs/" + request.job() + "/versions/"
                        + request.jobVersion() + "/snapshot";
                fetch = new io.fabric8.kubernetes.api.model.ContainerBuilder().withName("launch-fetch-code")
                        .withImage(sources.fetchImage()).withCommand("sh", "-c",
                                "wget -qO- \"$LAUNCH_SNAPSHOT_URL\" | tar -xz -C " + WORKSPACE)
                        .addNewEnv().withName("LAUNCH_SNAPSHOT_URL").withValue(url).endEnv().build();
            } else {
                fetch = new io.fabric8.kubernetes.api.model.ContainerBuilder().withName("launch-fetch-git")
                        .withImage(sources.gitImage()).withCommand("sh", "-c", "git clone --quiet \"$LAUNCH_GIT_REMOTE\" "
                                + WORKSPACE + " && git -C " + WORKSPACE + " checkout --quiet \"$LAUNCH_GIT_COMMIT\"")
                        .addNewEnv().withName("LAUNCH_GIT_REMOTE").withValue(request.source().remote()).endEnv()
                        .addNewEnv().withName("LAUNCH_GIT_COMMIT").withValue(request.source().commit()).endEnv()
                        .build();
            }
            fetch.setVolumeMounts(List.of(workspaceMount()));
            List<Container> init = pod.getInitContainers() == null ? new ArrayList<>()
                    : new ArrayList<>(pod.getInitContainers());
            init.add(0, fetch);
            pod.setInitContainers(init);
            List<io.fabric8.kubernetes.api.model.Volume> volumes = pod.getVolumes() == null ? new ArrayList<>()
                    : new ArrayList<>(pod.getVolumes());
            volumes.add(new io.fabric8.kubernetes.api.model.VolumeBuilder().withName(WORKSPACE_VOLUME)
                    .withNewEmptyDir().endEmptyDir().build());
            pod.setVolumes(volumes);
            run.setImage(sources.baseImage());
            run.setWorkingDir(WORKSPACE);
            List<io.fabric8.kubernetes.api.model.VolumeMount> mounts = run.getVolumeMounts() == null
                    ? new ArrayList<>() : new ArrayList<>(run.getVolumeMounts());
            mounts.add(workspaceMount());
            run.setVolumeMounts(mounts);
            env.put("LAUNCH_WORKSPACE", WORKSPACE);
        }
        run.setEnv(environment(run.getEnv(), env));
        pod.setContainers(containers);
        template.setSpec(pod);
    }

    /** The queue's workload manifest, unwrapped (its kind tells a Job from a custom workload). */
    static KubernetesManifest.Workload workload(RunRequest request) {
        List<Problem.FieldError> errors = new ArrayList<>();
        KubernetesManifest.Workload workload = KubernetesManifest.workload(config(request), errors);
        if (workload == null) {
            throw refused(errors);
        }
        return workload;
    }

    /**
     * The queue's workload manifest once it passed every check again, as filled for this run (the target's
     * {@code allow}, {@code container} and {@code status} with it).
     *
     * @throws IllegalArgumentException with every problem of the manifest named
     */
    private static KubernetesManifest.Workload checked(RunRequest request) {
        Set<String> allow = new HashSet<>();
        request.target().path("allow").forEach(a -> allow.add(a.asText()));
        List<Problem.FieldError> errors = KubernetesManifest.check(config(request), allow,
                request.target().path("container").asText(null), request.target().get("status"));
        if (!errors.isEmpty()) {
            throw refused(errors);
        }
        return workload(request);
    }

    private static IllegalArgumentException refused(List<Problem.FieldError> errors) {
        return new IllegalArgumentException(errors.stream().map(e -> e.field() + ": " + e.message()).toList()
                .toString());
    }

    /** How the custom workload of {@code request} says it ended: the target's rule, else the kind's default. */
    static dev.launch.targetconfig.StatusRule statusRule(RunRequest request, KubernetesManifest.Workload workload) {
        return dev.launch.targetconfig.StatusRule.of(workload.apiVersion(), workload.kind(),
                request.target().get("status"), new ArrayList<>());
    }

    /**
     * The attempt's custom workload (a PyTorchJob, a Volcano Job ...): named and labelled like a Job, and every pod
     * template in it labelled, its main container given the job's image, command and the run's environment.
     *
     * @throws IllegalArgumentException with every problem of the manifest named
     */
    static io.fabric8.kubernetes.api.model.GenericKubernetesResource custom(RunRequest request, String handle,
                                                                           String namespace, String installation,
                                                                           Sources sources) {
        com.fasterxml.jackson.databind.node.ObjectNode resource = checked(request).resource();
        Map<String, String> labels = labels(request, installation);
        com.fasterxml.jackson.databind.node.ObjectNode meta = (com.fasterxml.jackson.databind.node.ObjectNode)
                resource.get("metadata");
        meta.put("name", handle);
        meta.remove(List.of("generateName", "resourceVersion", "uid"));
        meta.put("namespace", namespace);
        label(meta, labels);
        for (Map.Entry<String, com.fasterxml.jackson.databind.node.ObjectNode> entry
                : KubernetesManifest.podTemplates(resource.get("spec"), "spec")) {
            com.fasterxml.jackson.databind.node.ObjectNode node = entry.getValue();
            PodTemplateSpec template = io.fabric8.kubernetes.client.utils.Serialization.jsonMapper()
                    .convertValue(node, PodTemplateSpec.class);
            prepare(template, request, labels, sources);
            node.removeAll();
            node.setAll((com.fasterxml.jackson.databind.node.ObjectNode) io.fabric8.kubernetes.client.utils
                    .Serialization.jsonMapper().valueToTree(template));
        }
        try {
            return dev.launch.common.event.Events.MAPPER.treeToValue(resource,
                    io.fabric8.kubernetes.api.model.GenericKubernetesResource.class);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalArgumentException("the workload cannot be made: " + e.getMessage(), e);
        }
    }

    private static void label(com.fasterxml.jackson.databind.node.ObjectNode meta, Map<String, String> labels) {
        // the workload's own labels (its pod templates are labelled by prepare)
        com.fasterxml.jackson.databind.node.ObjectNode have = meta.has("labels")
                ? (com.fasterxml.jackson.databind.node.ObjectNode) meta.get("labels") : meta.putObject("labels");
        labels.forEach(have::put);
    }

    /** Whether a workload's labels say it is this run attempt's, of this installation. */
    static boolean isAttempt(Map<String, String> have, RunRequest request, String installation) {
        Map<String, String> labels = have == null ? Map.of() : have;
        return request.runId().equals(labels.get(RUN_ID)) && String.valueOf(request.attempt()).equals(labels.get(ATTEMPT))
                && installation.equals(labels.get(INSTALLATION));
    }

    /** The four labels every Launch workload and its pods carry (ADR 0002). */
    static Map<String, String> labels(RunRequest request, String installation) {
        Map<String, String> labels = new LinkedHashMap<>();
        labels.put(RUN_ID, request.runId());
        labels.put(QUEUE, request.queue());
        labels.put(ATTEMPT, String.valueOf(request.attempt()));
        labels.put(INSTALLATION, installation);
        return labels;
    }

    /** Whether {@code job} is the work of this run attempt of this installation (an existing name is checked). */


    private static Map<String, String> merged(Map<String, String> theirs, Map<String, String> ours) {
        Map<String, String> out = new LinkedHashMap<>(theirs == null ? Map.of() : theirs);
        out.putAll(ours);
        return out;
    }

    /** The config's environment, with the run's own variables set over any of the same name. */
    private static List<EnvVar> environment(List<EnvVar> theirs, Map<String, String> run) {
        List<EnvVar> out = new ArrayList<>();
        if (theirs != null) {
            theirs.stream().filter(e -> !run.containsKey(e.getName())).forEach(out::add);
        }
        run.forEach((k, v) -> out.add(new EnvVar(k, v, null)));
        return out;
    }
}
