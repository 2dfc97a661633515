package dev.launch.agent.target.kubernetes;

import com.fasterxml.jackson.databind.JsonNode;
import dev.launch.agent.target.RunEnvironment;
import dev.launch.common.event.RunRequest;
import dev.launch.common.problem.Problem;
import dev.launch.common.target.KubernetesManifest;
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
    static Job job(RunRequest request, String handle, String namespace, String installation, Duration ttl) {
        Set<String> allow = new HashSet<>();
        request.target().path("allow").forEach(a -> allow.add(a.asText()));
        String container = request.target().path("container").asText(null);
        List<Problem.FieldError> errors = KubernetesManifest.check(config(request), allow, container);
        if (!errors.isEmpty()) {
            throw new IllegalArgumentException(errors.stream().map(e -> e.field() + ": " + e.message()).toList()
                    .toString());
        }
        KubernetesManifest.Workload workload = KubernetesManifest.workload(config(request), errors);
        Job job = KubernetesManifest.job(workload.resource());
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
        ObjectMeta podMeta = template.getMetadata() == null ? new ObjectMeta() : template.getMetadata();
        podMeta.setLabels(merged(podMeta.getLabels(), labels));
        template.setMetadata(podMeta);
        PodSpec pod = template.getSpec() == null ? new PodSpec() : template.getSpec();
        if (pod.getRestartPolicy() == null) {
            pod.setRestartPolicy("Never");
        }
        List<Container> containers = pod.getContainers() == null ? new ArrayList<>() : new ArrayList<>(pod.getContainers());
        int main = KubernetesManifest.mainContainer(job, container);
        if (containers.isEmpty()) {
            containers.add(new Container());
            main = 0;
        }
        Container run = containers.get(main);
        if (run.getName() == null || run.getName().isBlank()) {
            run.setName(MAIN_CONTAINER);
        }
        run.setImage(request.source().image());
        if (!request.command().isEmpty()) {
            run.setCommand(List.copyOf(request.command()));
            run.setArgs(null);
        }
        run.setEnv(environment(run.getEnv(), RunEnvironment.of(request)));
        pod.setContainers(containers);
        template.setSpec(pod);
        spec.setTemplate(template);
        job.setSpec(spec);
        return job;
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
    static boolean isAttempt(Job job, RunRequest request, String installation) {
        Map<String, String> have = job.getMetadata() == null || job.getMetadata().getLabels() == null ? Map.of()
                : job.getMetadata().getLabels();
        return request.runId().equals(have.get(RUN_ID)) && String.valueOf(request.attempt()).equals(have.get(ATTEMPT))
                && installation.equals(have.get(INSTALLATION));
    }

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
