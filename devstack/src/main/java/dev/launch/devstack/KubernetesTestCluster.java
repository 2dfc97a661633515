package dev.launch.devstack;

import io.fabric8.kubernetes.api.model.ContainerStateBuilder;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.ContainerStatusBuilder;
import io.fabric8.kubernetes.api.model.OwnerReferenceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodCondition;
import io.fabric8.kubernetes.api.model.PodConditionBuilder;
import io.fabric8.kubernetes.api.model.PodStatus;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.api.model.batch.v1.JobConditionBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.http.Dispatcher;
import io.fabric8.mockwebserver.http.MockResponse;
import io.fabric8.mockwebserver.http.RecordedRequest;

import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * A Kubernetes API server for tests: fabric8's mock server in CRUD mode (watches, label selectors, status
 * updates), with this class playing the parts a real cluster adds. Its Job controller makes one pod per new Job
 * (labels and spec from the Job's template, owned by the Job) and turns a pod's end into the Job's
 * {@code Complete} or {@code Failed} condition; its garbage collector deletes a deleted Job's pods after
 * {@link #podDeletionDelayMs} (so a stop is seen STOPPING); its kubelet is the test, which moves pods through
 * their states with the methods below and writes their output, served by {@code GET .../pods/{pod}/log} with
 * {@code timestamps} and {@code sinceTime} as the API server does; the field selector {@code type=Warning} on
 * events, which the mock lacks, is served too (the only events here are Warning ones).
 * Every request is recorded (user agent, verb and path).
 */
public final class KubernetesTestCluster implements AutoCloseable {
    private final KubernetesMockServer server;
    private final KubernetesCrudDispatcher crud;
    /** custom resource kinds served, by group/version */
    private final Map<String, List<io.fabric8.kubernetes.client.dsl.base.CustomResourceDefinitionContext>> kinds =
            new ConcurrentHashMap<>();
    private final List<SharedIndexInformer<?>> informers = new CopyOnWriteArrayList<>();
    private final KubernetesClient client;
    private final SharedIndexInformer<Job> jobs;
    private final ScheduledExecutorService later = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "test-cluster");
        t.setDaemon(true);
        return t;
    });
    private final Map<String, List<String[]>> output = new ConcurrentHashMap<>();
    private final List<String> requests = new CopyOnWriteArrayList<>();
    /** what happens to each new Job's pod right after the pod is made (the test's kubelet script) */
    private volatile Consumer<Pod> onPodCreated = pod -> { };
    public volatile long podDeletionDelayMs = 500;
    /** when set, the Job controller makes no pod for new Jobs and records a FailedCreate event with this message */
    public volatile String refusePods;

    /** the mock server logs each request at INFO; kept here so the level holds (a logger is weakly held) */
    private static final java.util.logging.Logger QUIET = java.util.logging.Logger.getLogger("io.fabric8.mockwebserver");

    public KubernetesTestCluster() {
        QUIET.setLevel(java.util.logging.Level.WARNING);
        crud = new KubernetesCrudDispatcher();
        Dispatcher dispatcher = new Dispatcher() {
            @Override
            public MockResponse dispatch(RecordedRequest request) {
                String agent = request.getHeader("User-Agent");
                requests.add((agent == null ? "" : agent) + " " + request.getMethod() + " " + request.getPath());
                String path = request.getPath();
                int q = path.indexOf('?');
                String bare = q < 0 ? path : path.substring(0, q);
                if ("GET".equals(request.getMethod()) && bare.matches("/api/v1/namespaces/[^/]+/pods/[^/]+/log")) {
                    return log(bare.split("/")[6], q < 0 ? "" : path.substring(q + 1));
                }
                String discovery = "GET".equals(request.getMethod()) ? discovery(bare) : null;
                if (discovery != null) {
                    return new MockResponse().setResponseCode(200).setBody(discovery);
                }
                if (bare.matches("/api/v1/namespaces/[^/]+/events") && path.contains("fieldSelector=type%3DWarning")) {
                    // the mock has no field selectors on events; the only events here are Warning ones
                    String plain = path.replaceAll("fieldSelector=type%3DWarning&?", "").replaceAll("[?&]$", "");
                    return crud.dispatch(new RecordedRequest(request.getHttpVersion(), request.method(), plain,
                            request.getHeaders(), request.getBody()));
                }
                return crud.dispatch(request);
            }
        };
        server = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(), dispatcher, false);
        server.init();
        client = server.createClient();
        jobs = client.batch().v1().jobs().inAnyNamespace().inform(new ResourceEventHandler<>() {
            @Override
            public void onAdd(Job job) {
                String refused = refusePods;
                if (refused == null) {
                    later.execute(() -> createPod(job));
                } else {
                    later.execute(() -> failedCreate(job, refused));
                }
            }

            @Override
            public void onUpdate(Job old, Job job) {
            }

            @Override
            public void onDelete(Job job, boolean unknown) {
                later.schedule(() -> client.pods().inNamespace(job.getMetadata().getNamespace())
                        .withLabel("batch.kubernetes.io/job-name", job.getMetadata().getName()).delete(),
                        podDeletionDelayMs, TimeUnit.MILLISECONDS);
            }
        }, 0);
    }

    /**
     * Serves a custom resource kind (as its CRD would), with API discovery, and plays its operator: each new
     * resource gets one pod per pod template in its spec (labels and spec from the template), which the test moves
     * through its states; the resource's {@code status} is the test's to set ({@link #customStatus}).
     */
    public void serve(String group, String version, String kind, String plural) {
        var context = new io.fabric8.kubernetes.client.dsl.base.CustomResourceDefinitionContext.Builder()
                .withGroup(group).withVersion(version).withKind(kind).withPlural(plural).withScope("Namespaced")
                .build();
        crud.expectCustomResource(context);
        kinds.computeIfAbsent(group + "/" + version, k -> new CopyOnWriteArrayList<>()).add(context);
        informers.add(client.genericKubernetesResources(context).inAnyNamespace().inform(new ResourceEventHandler<>() {
            @Override
            public void onAdd(io.fabric8.kubernetes.api.model.GenericKubernetesResource resource) {
                later.execute(() -> createPods(resource));
            }

            @Override
            public void onUpdate(io.fabric8.kubernetes.api.model.GenericKubernetesResource old,
                                 io.fabric8.kubernetes.api.model.GenericKubernetesResource resource) {
            }

            @Override
            public void onDelete(io.fabric8.kubernetes.api.model.GenericKubernetesResource resource, boolean unknown) {
                later.schedule(() -> client.pods().inNamespace(resource.getMetadata().getNamespace())
                        .withLabel("launch.test/owner", resource.getMetadata().getName()).delete(),
                        podDeletionDelayMs, TimeUnit.MILLISECONDS);
            }
        }, 0));
    }

    private String discovery(String path) {
        if (!path.startsWith("/apis/")) {
            return null;
        }
        String groupVersion = path.substring("/apis/".length());
        List<io.fabric8.kubernetes.client.dsl.base.CustomResourceDefinitionContext> served = kinds.get(groupVersion);
        if (served == null) {
            return null;
        }
        StringBuilder resources = new StringBuilder();
        for (var c : served) {
            if (resources.length() > 0) {
                resources.append(',');
            }
            resources.append("{\"name\":\"").append(c.getPlural()).append("\",\"singularName\":\"")
                    .append(c.getKind().toLowerCase()).append("\",\"namespaced\":true,\"kind\":\"").append(c.getKind())
                    .append("\",\"verbs\":[\"create\",\"delete\",\"get\",\"list\",\"patch\",\"update\",\"watch\"]}");
        }
        return "{\"kind\":\"APIResourceList\",\"apiVersion\":\"v1\",\"groupVersion\":\"" + groupVersion
                + "\",\"resources\":[" + resources + "]}";
    }

    private void createPods(io.fabric8.kubernetes.api.model.GenericKubernetesResource resource) {
        com.fasterxml.jackson.databind.JsonNode spec = io.fabric8.kubernetes.client.utils.Serialization.jsonMapper()
                .valueToTree(resource.getAdditionalProperties().get("spec"));
        List<com.fasterxml.jackson.databind.JsonNode> templates = new ArrayList<>();
        collectTemplates(spec, templates);
        int i = 0;
        for (com.fasterxml.jackson.databind.JsonNode template : templates) {
            io.fabric8.kubernetes.api.model.PodTemplateSpec pod = io.fabric8.kubernetes.client.utils.Serialization
                    .jsonMapper().convertValue(template, io.fabric8.kubernetes.api.model.PodTemplateSpec.class);
            Map<String, String> labels = new HashMap<>(pod.getMetadata().getLabels());
            labels.put("launch.test/owner", resource.getMetadata().getName());
            Pod made = new PodBuilder().withNewMetadata().withName(resource.getMetadata().getName() + "-" + (i++))
                    .withNamespace(resource.getMetadata().getNamespace()).withLabels(labels)
                    .withCreationTimestamp(Instant.now().toString()).endMetadata().withSpec(pod.getSpec())
                    .withNewStatus().withPhase("Pending").endStatus().build();
            onPodCreated.accept(client.pods().inNamespace(made.getMetadata().getNamespace()).resource(made).create());
        }
    }

    private static void collectTemplates(com.fasterxml.jackson.databind.JsonNode node,
                                         List<com.fasterxml.jackson.databind.JsonNode> found) {
        if (node.isObject()) {
            node.fields().forEachRemaining(f -> {
                if (f.getKey().equals("template") && f.getValue().path("spec").path("containers").isArray()) {
                    found.add(f.getValue());
                } else {
                    collectTemplates(f.getValue(), found);
                }
            });
        } else if (node.isArray()) {
            node.forEach(child -> collectTemplates(child, found));
        }
    }

    /** Sets a custom resource's {@code status} (its operator's word), e.g. {@code {"conditions": [...]}}. */
    public void customStatus(String apiVersion, String kind, String namespace, String name, Object status) {
        client.genericKubernetesResources(apiVersion, kind).inNamespace(namespace).withName(name).editStatus(r -> {
            r.setAdditionalProperty("status", status);
            return r;
        });
    }

    /** The resources of a custom kind of a run, by its label. */
    public List<io.fabric8.kubernetes.api.model.GenericKubernetesResource> custom(String apiVersion, String kind,
                                                                                   String runId) {
        return client.genericKubernetesResources(apiVersion, kind).inAnyNamespace().withLabel("launch.run-id", runId)
                .list().getItems();
    }

    /** The API server's URL, for an agent's {@code LAUNCH_KUBERNETES_API_SERVER}. */
    public String url() {
        return server.url("/");
    }

    /** A client of the server (the test's own view of the cluster). */
    public KubernetesClient client() {
        return client;
    }

    /** What the kubelet does with each new pod (e.g. run it and end it); by default it stays Pending. */
    public void onPodCreated(Consumer<Pod> script) {
        this.onPodCreated = script;
    }

    /** Every request so far, as {@code <user agent> VERB path?query}. */
    public List<String> requests() {
        return List.copyOf(requests);
    }

    private void createPod(Job job) {
        String ns = job.getMetadata().getNamespace();
        String name = job.getMetadata().getName() + "-" + UUID.randomUUID().toString().substring(0, 5);
        Map<String, String> labels = new HashMap<>(job.getSpec().getTemplate().getMetadata().getLabels());
        labels.put("batch.kubernetes.io/job-name", job.getMetadata().getName());
        labels.put("job-name", job.getMetadata().getName());
        Pod pod = new PodBuilder().withNewMetadata().withName(name).withNamespace(ns).withLabels(labels)
                .withCreationTimestamp(Instant.now().toString())
                .withOwnerReferences(new OwnerReferenceBuilder().withApiVersion("batch/v1").withKind("Job")
                        .withName(job.getMetadata().getName()).withUid(job.getMetadata().getUid())
                        .withController(true).build())
                .endMetadata().withSpec(job.getSpec().getTemplate().getSpec())
                .withNewStatus().withPhase("Pending").endStatus().build();
        Pod made = client.pods().inNamespace(ns).resource(pod).create();
        onPodCreated.accept(made);
    }

    /** A {@code FailedCreate} event on the Job, as the Job controller records when a pod is refused. */
    private void failedCreate(Job job, String message) {
        client.v1().events().inNamespace(job.getMetadata().getNamespace()).resource(
                new io.fabric8.kubernetes.api.model.EventBuilder().withNewMetadata()
                        .withName(job.getMetadata().getName() + "." + UUID.randomUUID().toString().substring(0, 8))
                        .withNamespace(job.getMetadata().getNamespace()).endMetadata()
                        .withNewInvolvedObject().withKind("Job").withApiVersion("batch/v1")
                        .withName(job.getMetadata().getName()).withNamespace(job.getMetadata().getNamespace())
                        .withUid(job.getMetadata().getUid()).endInvolvedObject()
                        .withReason("FailedCreate").withType("Warning").withMessage(message)
                        .withLastTimestamp(Instant.now().toString()).withCount(1).build()).create();
    }

    /** A {@code FailedMount} event on the pod, as the kubelet records when a volume cannot be mounted. */
    public void failedMount(Pod pod, String message) {
        client.v1().events().inNamespace(pod.getMetadata().getNamespace()).resource(
                new io.fabric8.kubernetes.api.model.EventBuilder().withNewMetadata()
                        .withName(pod.getMetadata().getName() + "." + UUID.randomUUID().toString().substring(0, 8))
                        .withNamespace(pod.getMetadata().getNamespace()).endMetadata()
                        .withNewInvolvedObject().withKind("Pod").withApiVersion("v1")
                        .withName(pod.getMetadata().getName()).withNamespace(pod.getMetadata().getNamespace())
                        .endInvolvedObject()
                        .withReason("FailedMount").withType("Warning").withMessage(message)
                        .withLastTimestamp(Instant.now().toString()).withCount(1).build()).create();
    }

    /** The pods of a run, by its label. */
    public List<Pod> pods(String runId) {
        return client.pods().inAnyNamespace().withLabel("launch.run-id", runId).list().getItems();
    }

    /** The Jobs of a run, by its label. */
    public List<Job> jobs(String runId) {
        return client.batch().v1().jobs().inAnyNamespace().withLabel("launch.run-id", runId).list().getItems();
    }

    // ---- the kubelet and the scheduler, played by the test -------------------------------------------------------

    private Pod status(Pod pod, Consumer<PodStatus> change) {
        return client.pods().inNamespace(pod.getMetadata().getNamespace()).withName(pod.getMetadata().getName())
                .editStatus(p -> {
                    if (p.getStatus() == null) {
                        p.setStatus(new PodStatus());
                    }
                    change.accept(p.getStatus());
                    return p;
                });
    }

    private static String main(Pod pod) {
        return pod.getSpec().getContainers().get(0).getName();
    }

    private static ContainerStatus container(Pod pod, io.fabric8.kubernetes.api.model.ContainerState state) {
        return new ContainerStatusBuilder().withName(main(pod)).withImage(pod.getSpec().getContainers().get(0)
                .getImage()).withState(state).withReady(state.getRunning() != null).withRestartCount(0).build();
    }

    private static PodCondition condition(String type, String status, String reason, String message) {
        return new PodConditionBuilder().withType(type).withStatus(status).withReason(reason).withMessage(message)
                .withLastTransitionTime(Instant.now().toString()).build();
    }

    /** The scheduler cannot place the pod. */
    public Pod unschedulable(Pod pod, String message) {
        return status(pod, s -> s.setConditions(new ArrayList<>(List.of(condition("PodScheduled", "False",
                "Unschedulable", message)))));
    }

    /** Scheduled; the kubelet pulls the image and creates the container. */
    public Pod creating(Pod pod) {
        return status(pod, s -> {
            s.setConditions(new ArrayList<>(List.of(condition("PodScheduled", "True", null, null))));
            s.setContainerStatuses(List.of(container(pod, new ContainerStateBuilder().withNewWaiting()
                    .withReason("ContainerCreating").endWaiting().build())));
        });
    }

    /** The main container waits for a reason ({@code ErrImagePull}, {@code CreateContainerConfigError} ...). */
    public Pod waiting(Pod pod, String reason, String message) {
        return status(pod, s -> {
            s.setConditions(new ArrayList<>(List.of(condition("PodScheduled", "True", null, null))));
            s.setContainerStatuses(List.of(container(pod, new ContainerStateBuilder().withNewWaiting()
                    .withReason(reason).withMessage(message).endWaiting().build())));
        });
    }

    public Pod running(Pod pod) {
        return status(pod, s -> {
            s.setPhase("Running");
            s.setConditions(new ArrayList<>(List.of(condition("PodScheduled", "True", null, null))));
            s.setContainerStatuses(List.of(container(pod, new ContainerStateBuilder().withNewRunning()
                    .withStartedAt(Instant.now().toString()).endRunning().build())));
        });
    }

    /**
     * The main container ends with {@code exitCode} ({@code reason}: Completed, Error, OOMKilled); a Job's
     * condition follows (a custom resource's status is set by the test, as its operator would).
     */
    public Pod terminated(Pod pod, int exitCode, String reason) {
        Pod ended = status(pod, s -> {
            s.setPhase(exitCode == 0 ? "Succeeded" : "Failed");
            s.setContainerStatuses(List.of(container(pod, new ContainerStateBuilder().withNewTerminated()
                    .withExitCode(exitCode).withReason(reason).withFinishedAt(Instant.now().toString())
                    .endTerminated().build())));
        });
        if (pod.getMetadata().getLabels().containsKey("batch.kubernetes.io/job-name")) {
            jobCondition(pod, exitCode == 0 ? "Complete" : "Failed", exitCode == 0 ? null : "BackoffLimitExceeded",
                    exitCode == 0 ? null : "Job has reached the specified backoff limit");
        }
        return ended;
    }

    /** The pod gets a {@code DisruptionTarget} condition (preemption, eviction, a drained node). */
    public Pod disrupted(Pod pod, String reason, String message) {
        return status(pod, s -> {
            List<PodCondition> conditions = new ArrayList<>(s.getConditions() == null ? List.of() : s.getConditions());
            conditions.add(condition("DisruptionTarget", "True", reason, message));
            s.setConditions(conditions);
            s.setPhase("Failed");
            s.setContainerStatuses(List.of(container(pod, new ContainerStateBuilder().withNewTerminated()
                    .withExitCode(137).withReason("Error").endTerminated().build())));
        });
    }

    /** Sets a condition on the pod's Job, as the Job controller does. */
    public void jobCondition(Pod pod, String type, String reason, String message) {
        String job = pod.getMetadata().getLabels().get("batch.kubernetes.io/job-name");
        client.batch().v1().jobs().inNamespace(pod.getMetadata().getNamespace()).withName(job).editStatus(j -> {
            if (j.getStatus() == null) {
                j.setStatus(new io.fabric8.kubernetes.api.model.batch.v1.JobStatus());
            }
            List<io.fabric8.kubernetes.api.model.batch.v1.JobCondition> conditions = new ArrayList<>(
                    j.getStatus().getConditions() == null ? List.of() : j.getStatus().getConditions());
            conditions.add(new JobConditionBuilder().withType(type).withStatus("True").withReason(reason)
                    .withMessage(message).withLastTransitionTime(Instant.now().toString()).build());
            j.getStatus().setConditions(conditions);
            return j;
        });
    }

    /** The pod's main container writes {@code line} now. */
    public void log(Pod pod, String line) {
        output.computeIfAbsent(pod.getMetadata().getName(), k -> new CopyOnWriteArrayList<>())
                .add(new String[]{DateTimeFormatter.ISO_INSTANT.format(Instant.now()), line});
    }

    private MockResponse log(String pod, String query) {
        boolean timestamps = false;
        Instant since = Instant.EPOCH;
        for (String pair : query.split("&")) {
            String[] kv = pair.split("=", 2);
            if (kv.length == 2 && kv[0].equals("timestamps")) {
                timestamps = Boolean.parseBoolean(kv[1]);
            } else if (kv.length == 2 && kv[0].equals("sinceTime")) {
                since = Instant.parse(URLDecoder.decode(kv[1], StandardCharsets.UTF_8));
            }
        }
        StringBuilder body = new StringBuilder();
        for (String[] line : output.getOrDefault(pod, List.of())) {
            if (!Instant.parse(line[0]).isBefore(since)) {
                body.append(timestamps ? line[0] + " " : "").append(line[1]).append('\n');
            }
        }
        return new MockResponse().setResponseCode(200).setBody(body.toString());
    }

    @Override
    public void close() {
        jobs.stop();
        informers.forEach(SharedIndexInformer::stop);
        later.shutdownNow();
        client.close();
        server.destroy();
    }
}
