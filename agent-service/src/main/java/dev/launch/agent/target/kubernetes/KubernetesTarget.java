package dev.launch.agent.target.kubernetes;

import dev.launch.agent.config.AgentConfig;
import dev.launch.agent.config.AgentIdentity;
import dev.launch.agent.target.Target;
import dev.launch.agent.target.TargetObserver;
import dev.launch.common.event.RunRequest;
import dev.launch.common.run.FailureStage;
import io.fabric8.kubernetes.api.model.DeletionPropagation;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import jakarta.annotation.PreDestroy;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.jboss.logging.Logger;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The {@code kubernetes} target: each run attempt is a {@code batch/v1} Job named by its handle, made from the
 * queue's manifest ({@link Workloads}), labelled with the run, queue, attempt and installation. Jobs and pods
 * outlive the agent, so it is adoptable.
 *
 * <p>Watched with informers, two per namespace for all of this installation's work (Jobs and Pods by the
 * {@code launch.installation} label), re-listed by fabric8 after a lost watch and resynced periodically: no call
 * per run. Each change of a watched attempt's Job or pods is judged on one thread ({@link PodStates}); what
 * lasts too long in a stuck state is failed by a timer, not by polling. See DESIGN.md beside this class.
 */
@ApplicationScoped
public class KubernetesTarget implements Target {
    private static final Logger LOG = Logger.getLogger(KubernetesTarget.class);
    public static final String TYPE = "kubernetes";
    public static final String USER_AGENT = "launch-agent";
    /** How long a failed Job's pod may take to show its last state before the Job's own reason is reported. */
    private static final long UNDECIDED_WAIT_MS = 5_000;

    @Inject
    AgentConfig config;
    @Inject
    io.micrometer.core.instrument.MeterRegistry metrics;
    @Inject
    AgentIdentity identity;

    private volatile KubernetesClient client;
    private volatile boolean ownClient;
    private volatile String installation;
    private volatile Duration failureWait;
    private volatile Duration ttl;
    private volatile Duration resync;
    private volatile Workloads.Sources sources = new Workloads.Sources("python:3.12-slim", "busybox:1.36",
            "alpine/git:2.45.2", java.util.Optional.empty());
    private final Map<String, Informers> namespaces = new ConcurrentHashMap<>();
    private final Map<String, Watched> watched = new ConcurrentHashMap<>();
    private final Set<String> stoppedEarly = ConcurrentHashMap.newKeySet();
    private final Set<String> dirty = ConcurrentHashMap.newKeySet();
    /** judges every change, in order: one thread for all of the agent's Kubernetes runs */
    private final ExecutorService judge = Executors.newSingleThreadExecutor(daemon("kubernetes-judge"));
    /** API calls that may take a while: creates, deletes, last log reads */
    private final ExecutorService calls = Executors.newFixedThreadPool(3, daemon("kubernetes-calls"));
    private final ScheduledExecutorService timers = Executors.newSingleThreadScheduledExecutor(daemon("kubernetes-timers"));

    private static java.util.concurrent.ThreadFactory daemon(String name) {
        return r -> {
            Thread t = new Thread(r, name);
            t.setDaemon(true);
            return t;
        };
    }

    /**
     * A namespace's informers: Jobs and Pods by the installation label, Warning events (the Job controller's
     * FailedCreate when it cannot make a pod, the kubelet's FailedMount), and one per custom workload kind used.
     */
    private record Informers(SharedIndexInformer<Job> jobs, SharedIndexInformer<Pod> pods,
                             SharedIndexInformer<io.fabric8.kubernetes.api.model.Event> warnings,
                             Map<String, SharedIndexInformer<GenericKubernetesResource>> custom) {
        /** The message of the last Warning event with {@code reason} about {@code kind} {@code name}, or null. */
        String warning(String kind, String name, String reason) {
            return warnings.getIndexer().byIndex("object", kind + "/" + name).stream()
                    .filter(e -> reason.equals(e.getReason()))
                    .max(java.util.Comparator.comparing(e -> e.getLastTimestamp() == null ? "" : e.getLastTimestamp()))
                    .map(io.fabric8.kubernetes.api.model.Event::getMessage).orElse(null);
        }
    }

    /** A custom workload kind (a PyTorchJob ...) and how its status says it ended. */
    private record Kind(String apiVersion, String kind, dev.launch.targetconfig.StatusRule rule) {
        String key() {
            return apiVersion + "/" + kind;
        }
    }

    /** One attempt this agent watches. */
    private static final class Watched {
        final String handle;
        final String namespace;
        final RunRequest request;
        final TargetObserver observer;
        final long skipThrough;
        final Map<String, PodLogs> logs = new ConcurrentHashMap<>();
        volatile String container = Workloads.MAIN_CONTAINER;
        /** a custom workload's kind and status rule; null for a batch/v1 Job */
        volatile Kind kind;
        volatile boolean jobSeen;
        volatile boolean stopRequested;
        volatile boolean runningReported;
        volatile boolean ended;
        String lastReason;
        long stuckSince;
        long undecidedSince;

        Watched(String handle, String namespace, RunRequest request, TargetObserver observer, long skipThrough) {
            this.handle = handle;
            this.namespace = namespace;
            this.request = request;
            this.observer = observer;
            this.skipThrough = skipThrough;
        }

        String key() {
            return namespace + "/" + handle;
        }
    }

    @Override
    public String type() {
        return TYPE;
    }

    @Override
    public boolean adoptable() {
        return true;
    }

    /** Uses {@code client} instead of one made from the agent's configuration (tests). */
    void use(KubernetesClient client, String installation, Duration failureWait, Duration ttl, Duration resync) {
        use(client, installation, failureWait, ttl, resync, sources);
    }

    void use(KubernetesClient client, String installation, Duration failureWait, Duration ttl, Duration resync,
             Workloads.Sources sources) {
        this.sources = sources;
        this.client = client;
        this.installation = installation;
        this.failureWait = failureWait;
        this.ttl = ttl;
        this.resync = resync;
    }

    private KubernetesClient client() {
        KubernetesClient c = client;
        if (c != null) {
            return c;
        }
        synchronized (this) {
            if (client == null) {
                AgentConfig.Kubernetes k = config.kubernetes();
                installation = identity.installation();
                failureWait = k.failureWait();
                ttl = k.ttlAfterFinished();
                resync = k.resync();
                sources = new Workloads.Sources(k.baseImage(), k.fetchImage(), k.gitImage(), k.snapshotUrl());
                client = clientFor(k.apiServer(), new dev.launch.agent.target.TargetCalls(metrics, TYPE));
                ownClient = true;
                LOG.infof("kubernetes target: API server %s, default namespace %s",
                        client.getConfiguration().getMasterUrl(), client.getNamespace());
            }
            return client;
        }
    }

    /**
     * A client as the agent makes it: fabric8's own rules (in-cluster service account, else {@code KUBECONFIG} or
     * {@code ~/.kube/config} and its current context) unless {@code apiServer} names the server; its requests say
     * {@code launch-agent} as their user agent (the API server's audit log tells them apart).
     */
    public static KubernetesClient clientFor(java.util.Optional<String> apiServer) {
        return clientFor(apiServer, dev.launch.agent.target.TargetCalls.none(TYPE));
    }

    /** As {@link #clientFor(java.util.Optional)}, every request timed in {@code calls}. */
    public static KubernetesClient clientFor(java.util.Optional<String> apiServer,
                                             dev.launch.agent.target.TargetCalls calls) {
        Config base = Config.autoConfigure(null);
        ConfigBuilder chosen = new ConfigBuilder(base).withUserAgent(USER_AGENT);
        apiServer.ifPresent(chosen::withMasterUrl);
        return new KubernetesClientBuilder().withConfig(chosen.build())
                .withHttpClientBuilderConsumer(b -> b.addOrReplaceInterceptor("launch-target-calls",
                        new TimedRequests(calls)))
                .build();
    }

    /** Times each API request from its sending to its answer (the headers, for a watch or a log follow). */
    private static final class TimedRequests implements io.fabric8.kubernetes.client.http.Interceptor {
        private final dev.launch.agent.target.TargetCalls calls;
        private final Map<java.util.UUID, Long> started = new java.util.concurrent.ConcurrentHashMap<>();

        TimedRequests(dev.launch.agent.target.TargetCalls calls) {
            this.calls = calls;
        }

        @Override
        public void before(io.fabric8.kubernetes.client.http.BasicBuilder builder,
                           io.fabric8.kubernetes.client.http.HttpRequest request, RequestTags tags) {
            started.put(request.id(), System.nanoTime());
        }

        @Override
        public void after(io.fabric8.kubernetes.client.http.HttpRequest request,
                          io.fabric8.kubernetes.client.http.HttpResponse<?> response,
                          io.fabric8.kubernetes.client.http.AsyncBody.Consumer<List<java.nio.ByteBuffer>> consumer) {
            done(request, response.code() >= 400);
        }

        @Override
        public void afterConnectionFailure(io.fabric8.kubernetes.client.http.HttpRequest request, Throwable failure) {
            done(request, true);
        }

        private void done(io.fabric8.kubernetes.client.http.HttpRequest request, boolean failed) {
            Long at = started.remove(request.id());
            if (at != null) {
                calls.record(dev.launch.agent.target.TargetCalls.kubernetesOperation(request.method(),
                        request.uri()), at, failed);
            }
        }
    }

    private String defaultNamespace() {
        String ns = client().getNamespace();
        return ns == null || ns.isBlank() ? "default" : ns;
    }

    /** The namespace's informers, started and synced (bounded wait). */
    private Informers informers(String namespace) {
        Informers found = namespaces.get(namespace);
        if (found != null) {
            return found;
        }
        synchronized (namespaces) {
            found = namespaces.get(namespace);
            if (found != null) {
                return found;
            }
            KubernetesClient c = client();
            long every = resync.toMillis();
            SharedIndexInformer<Job> jobs = c.batch().v1().jobs().inNamespace(namespace)
                    .withLabel(Workloads.INSTALLATION, installation).runnableInformer(every);
            SharedIndexInformer<Pod> pods = c.pods().inNamespace(namespace)
                    .withLabel(Workloads.INSTALLATION, installation).runnableInformer(every);
            // the Job controller's word when it cannot make a pod (quota, admission webhook: no pod ever appears),
            // the kubelet's when it cannot mount a volume
            SharedIndexInformer<io.fabric8.kubernetes.api.model.Event> warnings = c.v1().events().inNamespace(namespace)
                    .withField("type", "Warning").runnableInformer(every);
            pods.addIndexers(Map.of("attempt", pod -> List.of(attemptKey(pod))));
            warnings.addIndexers(Map.of("object", e -> e.getInvolvedObject() == null ? List.of()
                    : List.of(e.getInvolvedObject().getKind() + "/" + e.getInvolvedObject().getName())));
            jobs.addEventHandler(handler(job -> job.getMetadata().getName()));
            pods.addEventHandler(handler(this::handleOf));
            warnings.addEventHandler(handler(e -> {
                var about = e.getInvolvedObject();
                if (about == null || about.getName() == null) {
                    return null;
                }
                if ("Pod".equals(about.getKind())) {
                    Pod pod = pods.getStore().getByKey(namespace + "/" + about.getName());
                    return pod == null ? null : handleOf(pod);
                }
                return about.getName();
            }));
            Informers made = new Informers(jobs, pods, warnings, new ConcurrentHashMap<>());
            awaitSynced(List.of(jobs, pods, warnings), namespace);
            namespaces.put(namespace, made);
            return made;
        }
    }

    /**
     * Starts informers and waits (30 s at most) for their first list. A first list that failed stops an informer
     * for good, so failed ones are stopped and not kept (the caller throws): the next run tries again.
     */
    private void awaitSynced(List<? extends SharedIndexInformer<?>> informers, String namespace) {
        try {
            for (SharedIndexInformer<?> informer : informers) {
                informer.start().toCompletableFuture().get(30, TimeUnit.SECONDS);
            }
        } catch (java.util.concurrent.TimeoutException e) {
            LOG.warnf("the informers of namespace %s have not synced within 30 s; going on", namespace);
        } catch (Exception e) {
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            informers.forEach(SharedIndexInformer::stop);
            Throwable cause = e.getCause() != null ? e.getCause() : e;
            throw new KubernetesClientException("the Kubernetes API server at " + client().getConfiguration()
                    .getMasterUrl() + " cannot be reached (" + cause + ")", cause);
        }
    }

    private static String attemptKey(Pod pod) {
        Map<String, String> labels = pod.getMetadata().getLabels();
        return labels == null ? "" : labels.get(Workloads.RUN_ID) + "/" + labels.get(Workloads.ATTEMPT);
    }

    /** The handle of the attempt a pod belongs to (the rule is deterministic, ADR 0002). */
    private String handleOf(Pod pod) {
        Map<String, String> labels = pod.getMetadata().getLabels();
        if (labels == null || labels.get(Workloads.RUN_ID) == null) {
            return null;
        }
        try {
            return dev.launch.agent.target.Handles.of(labels.get(Workloads.RUN_ID),
                    Integer.parseInt(labels.get(Workloads.ATTEMPT)), maxHandleLength());
        } catch (NumberFormatException e) {
            return null;
        }
    }

    private <T extends HasMetadata> ResourceEventHandler<T> handler(java.util.function.Function<T, String> handleOf) {
        return new ResourceEventHandler<>() {
            @Override
            public void onAdd(T obj) {
                changed(obj);
            }

            @Override
            public void onUpdate(T old, T obj) {
                changed(obj);
            }

            @Override
            public void onDelete(T obj, boolean unknownFinalState) {
                changed(obj);
            }

            private void changed(T obj) {
                String handle = handleOf.apply(obj);
                if (handle != null) {
                    Watched w = watched.get(obj.getMetadata().getNamespace() + "/" + handle);
                    if (w != null) {
                        judgeSoon(w);
                    }
                }
            }
        };
    }

    /** Judges {@code w} on the judge thread; changes that arrive meanwhile are judged once. */
    private void judgeSoon(Watched w) {
        if (dirty.add(w.key())) {
            judge.execute(() -> {
                dirty.remove(w.key());
                try {
                    judgeNow(w);
                } catch (RuntimeException e) {
                    try (var ignored = dev.launch.messaging.RunLog.scope(w.request.runId(), w.request.queue(), null)) {
                        LOG.warnf(e, "judging run %s failed", w.request.runId());
                    }
                }
            });
        }
    }

    /** The informer of a custom kind in {@code namespace}, started and synced (bounded wait). */
    private SharedIndexInformer<GenericKubernetesResource> customInformer(String namespace, Kind kind) {
        Informers informers = informers(namespace);
        return informers.custom().computeIfAbsent(kind.key(), k -> {
            SharedIndexInformer<GenericKubernetesResource> informer = client()
                    .genericKubernetesResources(kind.apiVersion(), kind.kind()).inNamespace(namespace)
                    .withLabel(Workloads.INSTALLATION, installation).runnableInformer(resync.toMillis());
            informer.addEventHandler(handler(r -> r.getMetadata().getName()));
            awaitSynced(List.of(informer), namespace);
            return informer;
        });
    }

    /** The kind of {@code request}'s workload: null for a Job. */
    private static Kind kindOf(RunRequest request) {
        var workload = Workloads.workload(request);
        return workload.isJob() ? null : new Kind(workload.apiVersion(), workload.kind(),
                Workloads.statusRule(request, workload));
    }

    /** The API of the attempt's workload, whatever its kind. */
    private io.fabric8.kubernetes.client.dsl.Resource<? extends HasMetadata> api(Watched w) {
        return w.kind == null ? client().batch().v1().jobs().inNamespace(w.namespace).withName(w.handle)
                : client().genericKubernetesResources(w.kind.apiVersion(), w.kind.kind()).inNamespace(w.namespace)
                .withName(w.handle);
    }

    /** The attempt's workload as the informers last saw it, or null. */
    private HasMetadata cached(Watched w) {
        Informers informers = namespaces.get(w.namespace);
        if (informers == null) {
            return null;
        }
        if (w.kind == null) {
            return informers.jobs().getStore().getByKey(w.key());
        }
        SharedIndexInformer<GenericKubernetesResource> custom = informers.custom().get(w.kind.key());
        return custom == null ? null : custom.getStore().getByKey(w.key());
    }

    private static String what(Watched w) {
        return w.kind == null ? "Job" : w.kind.kind();
    }

    @Override
    public void submit(RunRequest request, String handle, TargetObserver observer) {
        String namespace;
        HasMetadata workload;
        Kind kind;
        try {
            namespace = Workloads.namespace(request, defaultNamespace());
            kind = kindOf(request);
            workload = kind == null ? Workloads.job(request, handle, namespace, installationId(), ttl, sources)
                    : Workloads.custom(request, handle, namespace, installationId(), sources);
        } catch (Workloads.SourceUnavailable e) {
            observer.failed(FailureStage.BUILD.wire(), e.getMessage(), null);
            return;
        } catch (IllegalArgumentException e) {
            observer.failed(FailureStage.TARGET.wire(), "the queue's manifest is refused: " + e.getMessage(), null);
            return;
        } catch (KubernetesClientException e) {
            observer.failed(FailureStage.TARGET.wire(), "no Kubernetes cluster can be reached: " + e.getMessage(), null);
            return;
        }
        if (stoppedEarly.remove(handle)) {
            observer.stopped(null);
            return;
        }
        Watched w = new Watched(handle, namespace, request, observer, -1);
        w.kind = kind;
        w.container = kind == null ? Workloads.mainContainer((Job) workload, request)
                : request.target().path("container").asText(Workloads.MAIN_CONTAINER);
        try {
            informers(namespace);
            if (kind != null) {
                customInformer(namespace, kind);
            }
        } catch (KubernetesClientException e) {
            observer.failed(FailureStage.TARGET.wire(), "the run's namespace " + namespace + " cannot be watched: "
                    + e.getMessage() + "; nothing was created. The agent finds its cluster from its service account, "
                    + "KUBECONFIG or ~/.kube/config, or LAUNCH_KUBERNETES_API_SERVER", null);
            return;
        }
        if (!observer.launching()) {
            return;
        }
        watched.put(w.key(), w);
        try {
            if (kind == null) {
                client().batch().v1().jobs().inNamespace(namespace).resource((Job) workload).create();
            } else {
                client().genericKubernetesResources(kind.apiVersion(), kind.kind()).inNamespace(namespace)
                        .resource((GenericKubernetesResource) workload).create();
            }
            LOG.infof("run %s: created %s %s/%s", request.runId(), what(w), namespace, handle);
        } catch (KubernetesClientException e) {
            if (e.getCode() == 409) {
                HasMetadata existing = api(w).get();
                if (existing != null && Workloads.isAttempt(existing.getMetadata().getLabels(), request,
                        installationId())) {
                    LOG.infof("%s %s/%s exists already (the run's item was taken again); watching it", what(w),
                            namespace, handle);
                    judgeSoon(w);
                    return;
                }
                watched.remove(w.key());
                observer.failed(FailureStage.TARGET.wire(), "a " + what(w) + " named " + handle + " exists in "
                        + "namespace " + namespace + " and is not this run's attempt; it was left alone", null);
                return;
            }
            watched.remove(w.key());
            observer.failed(FailureStage.TARGET.wire(), e.getCode() > 0 ? "the Kubernetes API refused the " + what(w)
                    + " (" + e.getCode() + "): " + (e.getStatus() != null && e.getStatus().getMessage() != null
                    ? e.getStatus().getMessage() : e.getMessage())
                    : "the " + what(w) + " could not be sent to the Kubernetes API server at "
                    + client().getConfiguration().getMasterUrl() + " (" + (e.getCause() != null ? e.getCause()
                    : e.getMessage()) + ")", null);
            return;
        }
        judgeSoon(w);
    }

    private String installationId() {
        client();
        return installation;
    }

    @Override
    public void attach(RunRequest request, String handle, long afterPosition, TargetObserver observer) {
        String namespace;
        Watched w;
        try {
            namespace = Workloads.namespace(request, defaultNamespace());
            w = new Watched(handle, namespace, request, observer, afterPosition);
            w.kind = kindOf(request);
            informers(namespace);
            if (w.kind != null) {
                customInformer(namespace, w.kind);
            }
        } catch (IllegalArgumentException | KubernetesClientException e) {
            observer.failed(FailureStage.AGENT.wire(), "the run's work cannot be watched: " + e.getMessage(), null);
            return;
        }
        HasMetadata workload = cached(w);
        if (workload == null) {
            workload = api(w).get();
        }
        if (workload == null) {
            observer.failed(FailureStage.TARGET.wire(), what(w) + " " + w.key() + " is gone from the cluster: it "
                    + "was deleted while no agent watched it; the run's end is unknown", null);
            return;
        }
        w.jobSeen = true;
        w.container = request.target().path("container").asText(workload instanceof Job job
                ? job.getSpec().getTemplate().getSpec().getContainers().get(0).getName() : Workloads.MAIN_CONTAINER);
        watched.put(w.key(), w);
        judgeSoon(w);
    }

    /** What the informers say about {@code w} now, told to its observer; on the judge thread only. */
    private void judgeNow(Watched w) {
        if (w.ended || watched.get(w.key()) != w) {
            return;
        }
        Informers informers = namespaces.get(w.namespace);
        HasMetadata workload = cached(w);
        List<Pod> pods = informers.pods().getIndexer().byIndex("attempt", w.request.runId() + "/" + w.request.attempt());
        long now = System.currentTimeMillis();
        if (workload != null) {
            w.jobSeen = true;
        }
        if (w.stopRequested) {
            if ((workload == null || workload.getMetadata().getDeletionTimestamp() != null) && pods.isEmpty()) {
                end(w, () -> w.observer.stopped(null), false);
            }
            return;
        }
        if (workload == null && w.jobSeen) {
            end(w, () -> w.observer.failed(FailureStage.TARGET.wire(), what(w) + " " + w.key() + " was deleted "
                    + "outside Launch", null), false);
            return;
        }
        for (Pod pod : pods) {
            followLogs(w, pod, pods.size() > 1);
        }
        PodStates.Observation seen;
        if (w.kind == null) {
            Pod newest = pods.stream().max(java.util.Comparator.comparing(p -> p.getMetadata().getCreationTimestamp()
                    == null ? "" : p.getMetadata().getCreationTimestamp())).orElse(null);
            seen = PodStates.of((Job) workload, pods, w.container,
                    pods.isEmpty() ? informers.warning("Job", w.handle, "FailedCreate") : null,
                    newest == null ? null : informers.warning("Pod", newest.getMetadata().getName(), "FailedMount"));
        } else {
            Object status = workload == null ? null
                    : ((GenericKubernetesResource) workload).getAdditionalProperties().get("status");
            seen = PodStates.ofCustom(w.kind.rule().read(status == null ? null
                    : dev.launch.common.event.Events.MAPPER.valueToTree(status)), w.kind.kind(), pods, w.container);
        }
        if (!(seen instanceof PodStates.Undecided)) {
            w.undecidedSince = 0;
        }
        if (seen instanceof PodStates.Progress p) {
            if (!p.reason().equals(w.lastReason)) {
                w.lastReason = p.reason();
                w.observer.progressed(p.reason());
            }
            if (!p.stuck()) {
                w.stuckSince = 0;
            } else if (w.stuckSince == 0) {
                w.stuckSince = now;
                timers.schedule(() -> judgeSoon(w), failureWait.toMillis() + 10, TimeUnit.MILLISECONDS);
            } else if (now - w.stuckSince >= failureWait.toMillis()) {
                String reason = p.reason() + ", for " + failureWait.toSeconds() + " s";
                end(w, () -> w.observer.failed(FailureStage.TARGET.wire(), reason, null), true);
            }
        } else if (seen instanceof PodStates.Running) {
            w.stuckSince = 0;
            running(w);
        } else if (seen instanceof PodStates.Exited e) {
            end(w, () -> {
                running(w);
                w.observer.exited(e.exitCode());
            }, true);
        } else if (seen instanceof PodStates.Failed f) {
            end(w, () -> {
                if (f.started()) {
                    running(w);
                }
                w.observer.failed(f.stage(), f.reason(), f.exitCode());
            }, true);
        } else if (seen instanceof PodStates.Preempted p) {
            end(w, () -> w.observer.preempted(p.reason()), true);
        } else if (seen instanceof PodStates.Undecided u) {
            if (w.undecidedSince == 0) {
                w.undecidedSince = now;
                timers.schedule(() -> judgeSoon(w), UNDECIDED_WAIT_MS + 10, TimeUnit.MILLISECONDS);
            } else if (now - w.undecidedSince >= UNDECIDED_WAIT_MS) {
                end(w, () -> w.observer.failed(FailureStage.TARGET.wire(), "the Job failed: " + u.jobReason(),
                        null), true);
            }
        }
    }

    private void running(Watched w) {
        if (!w.runningReported) {
            w.runningReported = true;
            w.observer.running();
        }
    }

    /** Follows the output of a pod whose main container has started. */
    private void followLogs(Watched w, Pod pod, boolean several) {
        String name = pod.getMetadata().getName();
        String container = containerOf(pod, w.container);
        if (w.logs.containsKey(name) || container == null || !started(pod, container)) {
            return;
        }
        long after = w.logs.values().stream().mapToLong(PodLogs::lastPosition).max().orElse(w.skipThrough);
        PodLogs logs = new PodLogs(client(), w.namespace, name, container, after, w.observer, timers, several);
        w.logs.put(name, logs);
        calls.execute(logs::follow);
    }

    /** The pod's container named {@code wanted}, else its first (the tasks of a custom workload name theirs apart). */
    private static String containerOf(Pod pod, String wanted) {
        if (pod.getSpec() == null || pod.getSpec().getContainers() == null || pod.getSpec().getContainers().isEmpty()) {
            return null;
        }
        return pod.getSpec().getContainers().stream().map(io.fabric8.kubernetes.api.model.Container::getName)
                .filter(wanted::equals).findFirst().orElse(pod.getSpec().getContainers().get(0).getName());
    }

    private static boolean started(Pod pod, String container) {
        if (pod.getStatus() == null || pod.getStatus().getContainerStatuses() == null) {
            return false;
        }
        return pod.getStatus().getContainerStatuses().stream().filter(s -> container.equals(s.getName()))
                .anyMatch(s -> s.getState() != null && (s.getState().getRunning() != null
                        || s.getState().getTerminated() != null)
                        || s.getLastState() != null && s.getLastState().getTerminated() != null);
    }

    /**
     * The attempt ended: the output is read to its end, the end reported, and — once reported — the Job deleted
     * ({@code delete}) with its pods: Kubernetes keeps nothing Launch does not need.
     */
    private void end(Watched w, Runnable report, boolean delete) {
        w.ended = true;
        calls.execute(() -> {
            Informers informers = namespaces.get(w.namespace);
            for (Pod pod : informers.pods().getIndexer().byIndex("attempt", w.request.runId() + "/" + w.request.attempt())) {
                followLogs(w, pod, false);
            }
            w.logs.values().forEach(PodLogs::finish);
            try {
                report.run();
            } finally {
                watched.remove(w.key(), w);
                if (delete) {
                    try {
                        api(w).withPropagationPolicy(DeletionPropagation.BACKGROUND).delete();
                    } catch (KubernetesClientException e) {
                        LOG.infof("%s %s could not be deleted (%s)", what(w), w.key(), e.getMessage());
                    }
                }
            }
        });
    }

    @Override
    public void stop(String handle) {
        Watched w = watched.values().stream().filter(x -> x.handle.equals(handle)).findFirst().orElse(null);
        if (w == null) {
            stoppedEarly.add(handle); // not created yet: it will not be
            return;
        }
        w.stopRequested = true;
        calls.execute(() -> {
            try {
                api(w).withPropagationPolicy(DeletionPropagation.FOREGROUND).delete();
            } catch (KubernetesClientException e) {
                LOG.warnf("deleting %s %s failed: %s", what(w), w.key(), e.getMessage());
            }
            judgeSoon(w);
        });
    }

    @Override
    public void detach(String handle) {
        watched.values().removeIf(w -> {
            if (w.handle.equals(handle)) {
                w.logs.values().forEach(PodLogs::close);
                return true;
            }
            return false;
        });
    }

    @Override
    public List<String> find(String queue) {
        List<String> names = new ArrayList<>();
        for (String namespace : namespaces.isEmpty() ? List.of(defaultNamespace()) : List.copyOf(namespaces.keySet())) {
            client().batch().v1().jobs().inNamespace(namespace).withLabel(Workloads.INSTALLATION, installationId())
                    .withLabel(Workloads.QUEUE, queue).list().getItems()
                    .forEach(job -> names.add(job.getMetadata().getName()));
        }
        return names;
    }

    @Override
    public void shutdown(Duration within) {
        watched.values().forEach(w -> w.logs.values().forEach(PodLogs::close));
        watched.clear(); // Jobs outlive the agent: left running for another agent to adopt
        namespaces.values().forEach(i -> {
            i.jobs().stop();
            i.pods().stop();
            i.warnings().stop();
            i.custom().values().forEach(SharedIndexInformer::stop);
        });
        namespaces.clear();
    }

    @PreDestroy
    void close() {
        shutdown(Duration.ZERO);
        judge.shutdownNow();
        calls.shutdownNow();
        timers.shutdownNow();
        KubernetesClient c = client;
        if (c != null && ownClient) {
            c.close();
        }
    }
}
