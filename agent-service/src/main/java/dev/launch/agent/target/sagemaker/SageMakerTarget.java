package dev.launch.agent.target.sagemaker;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.launch.agent.config.AgentConfig;
import dev.launch.agent.config.AgentIdentity;
import dev.launch.agent.target.RunEnvironment;
import dev.launch.agent.target.Target;
import dev.launch.agent.target.TargetObserver;
import dev.launch.common.event.RunRequest;
import dev.launch.common.run.FailureStage;
import dev.launch.targetconfig.SageMakerConfig;
import jakarta.annotation.PreDestroy;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.jboss.logging.Logger;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.auth.credentials.ProfileCredentialsProvider;
import software.amazon.awssdk.awscore.exception.AwsServiceException;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.cloudwatchlogs.CloudWatchLogsClient;
import software.amazon.awssdk.services.sagemaker.SageMakerClient;
import software.amazon.awssdk.services.sagemaker.model.AlgorithmSpecification;
import software.amazon.awssdk.services.sagemaker.model.CreateTrainingJobRequest;
import software.amazon.awssdk.services.sagemaker.model.DescribeTrainingJobResponse;
import software.amazon.awssdk.services.sagemaker.model.ListTrainingJobsResponse;
import software.amazon.awssdk.services.sagemaker.model.Tag;
import software.amazon.awssdk.services.sagemaker.model.TrainingJobStatus;
import software.amazon.awssdk.services.sagemaker.model.TrainingJobSummary;

import java.net.URI;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The {@code sagemaker} target: each run attempt is an Amazon SageMaker training job named by its handle, made
 * from the queue's CreateTrainingJob body ({@link SageMakerConfig}) with the job's image and command, the run's
 * environment and Launch's tags. Training jobs outlive the agent, and their names can never be reused, so it is
 * adoptable and never creates an attempt's job twice.
 *
 * <p>Watched by one poller for all of the agent's jobs in an account and region: each tick one
 * ListTrainingJobs of what changed since the last ({@code LastModifiedTimeAfter}), then DescribeTrainingJob only
 * for watched jobs that changed; a second thread reads the running and ended jobs' CloudWatch logs within a call
 * budget, so slow log reads never delay a state look. The
 * interval is short while something changes and grows while nothing does; throttling and server errors back it
 * off with jitter. No thread or loop per run. See DESIGN.md beside this class.
 */
@ApplicationScoped
public class SageMakerTarget implements Target {
    private static final Logger LOG = Logger.getLogger(SageMakerTarget.class);
    public static final String TYPE = "sagemaker";
    /** A Describe of every watched job this often, in case a change was missed by the lists. */
    private static final long FULL_LOOK_MS = 300_000;
    /** How far back each list looks before the newest change it saw (SageMaker's clock, not ours). */
    private static final long LIST_OVERLAP_MS = 5_000;

    @Inject
    AgentConfig config;
    @Inject
    io.micrometer.core.instrument.MeterRegistry metrics;
    @Inject
    AgentIdentity identity;

    /** Timings (from the agent's configuration, or a test's). */
    record Timings(Duration pollMin, Duration pollMax, Duration logInterval, int logCallsPerSecond,
                   Duration logQuiet, Duration logGrace, Duration createRetryMax) {
    }

    /** The clients of one account and region (the queue's region and profile), and the poller's place in it. */
    private static final class Account {
        final String key;
        final SageMakerClient sageMaker;
        final CloudWatchLogsClient logs;
        final boolean own;
        /** the newest LastModifiedTime a list or describe showed (SageMaker's clock); null before the first */
        Instant newest;
        long lastFullLook = System.currentTimeMillis();

        Account(String key, SageMakerClient sageMaker, CloudWatchLogsClient logs, boolean own) {
            this.key = key;
            this.sageMaker = sageMaker;
            this.logs = logs;
            this.own = own;
        }
    }

    /** One attempt this agent watches. */
    private static final class Watched {
        final String handle;
        final RunRequest request;
        final TargetObserver observer;
        final Account account;
        final TrainingLogs logs;
        volatile boolean created;
        volatile boolean stopRequested;
        volatile boolean ended;
        /** a Describe is due (just created or attached, or a list showed a change) */
        volatile boolean changed = true;
        volatile ScheduledFuture<?> retry;
        Instant lastModified;
        String lastStatus;
        volatile String lastReason;
        volatile boolean runningReported;
        /** the log reader's own */
        long nextLogRead;
        long logReadsAfterEnd;
        boolean endNoticed;
        /** the end seen by the poller, reported by the log reader once the output is read to its end (or the grace passed) */
        volatile Runnable pendingEnd;
        volatile long endSeenAt;

        Watched(String handle, RunRequest request, TargetObserver observer, Account account, long after) {
            this.handle = handle;
            this.request = request;
            this.observer = observer;
            this.account = account;
            this.logs = new TrainingLogs(handle, observer, after, instances(request) > 1);
        }
    }

    /** The instances the attempt runs on: its ResourceConfig's InstanceCount, or its instance groups'. */
    static int instances(RunRequest request) {
        JsonNode body = SageMakerConfig.body(request.target().get("config") instanceof ObjectNode o ? o : null);
        if (body == null) {
            return 1;
        }
        JsonNode resources = body.path("ResourceConfig");
        if (resources.path("InstanceGroups").isArray()) {
            int n = 0;
            for (JsonNode group : resources.get("InstanceGroups")) {
                n += group.path("InstanceCount").asInt(1);
            }
            return n;
        }
        return resources.path("InstanceCount").asInt(1);
    }

    private final Map<String, Account> accounts = new ConcurrentHashMap<>();
    private final Map<String, Watched> watched = new ConcurrentHashMap<>();
    private final Set<String> stoppedEarly = ConcurrentHashMap.newKeySet();
    /** the poller: lists, describes, log reads and judgement, for every watched job */
    private final ScheduledExecutorService poller = Executors.newSingleThreadScheduledExecutor(daemon("sagemaker-poller"));
    /** creates retried later, stops */
    private final ScheduledExecutorService calls = Executors.newScheduledThreadPool(2, daemon("sagemaker-calls"));
    /** the log reader: CloudWatch reads of every running or ended job, within the budget, apart from the states */
    private final ScheduledExecutorService logReader = Executors.newSingleThreadScheduledExecutor(daemon("sagemaker-logs"));
    private final java.util.concurrent.atomic.AtomicBoolean logReaderStarted = new java.util.concurrent.atomic.AtomicBoolean();
    private final Map<String, AtomicLong> apiCalls = new ConcurrentHashMap<>();
    private volatile Timings timings;
    private volatile String installation;
    private volatile Optional<String> endpoint = Optional.empty();
    /** the poller's current interval (ms) and its next tick */
    private long interval;
    private long nextStateLook;
    /** a create, attach or stop asked for a state look now */
    private boolean lookSoon;
    private long lastTick = System.currentTimeMillis();
    private ScheduledFuture<?> nextTick;
    private double logBudget;

    private static java.util.concurrent.ThreadFactory daemon(String name) {
        return r -> {
            Thread t = new Thread(r, name);
            t.setDaemon(true);
            return t;
        };
    }

    @Override
    public String type() {
        return TYPE;
    }

    @Override
    public boolean adoptable() {
        return true;
    }

    /** Uses {@code sageMaker} and {@code logs} for every queue instead of clients made per region (tests). */
    void use(SageMakerClient sageMaker, CloudWatchLogsClient logs, String installation, Timings timings) {
        this.installation = installation;
        this.timings = timings;
        accounts.put("", new Account("", sageMaker, logs, false));
    }

    private Timings timings() {
        Timings t = timings;
        if (t == null) {
            synchronized (this) {
                if (timings == null) {
                    AgentConfig.Sagemaker s = config.sagemaker();
                    installation = identity.installation();
                    endpoint = s.endpointUrl().filter(u -> !u.isBlank());
                    timings = new Timings(s.pollMin(), s.pollMax(), s.logInterval(), s.logCallsPerSecond(),
                            s.logQuiet(), s.logGrace(), s.createRetryMax());
                }
                t = timings;
            }
        }
        return t;
    }

    /** API calls made, by action (for the benchmark and the logs). */
    public Map<String, Long> apiCalls() {
        Map<String, Long> all = new java.util.TreeMap<>();
        apiCalls.forEach((k, v) -> all.put(k, v.get()));
        return all;
    }

    private void counted(String action, int n) {
        apiCalls.computeIfAbsent(action, a -> new AtomicLong()).addAndGet(n);
    }

    /**
     * The clients for the queue's region and profile: its config's W&B {@code region}/{@code profile}, else the
     * target's {@code region}, else the AWS SDK's own settings (AWS_REGION, AWS_PROFILE, the profile file).
     */
    private Account account(RunRequest request) {
        timings();
        Account test = accounts.get("");
        if (test != null && !test.own) {
            return test;
        }
        ObjectNode cfg = request.target().get("config") instanceof ObjectNode o ? o : null;
        Optional<String> region = SageMakerConfig.region(request.target(), cfg);
        Optional<String> profile = SageMakerConfig.profile(cfg);
        String key = region.orElse("") + "|" + profile.orElse("");
        return accounts.computeIfAbsent(key, k -> {
            AwsCredentialsProvider credentials = profile.<AwsCredentialsProvider>map(ProfileCredentialsProvider::create)
                    .orElseGet(() -> DefaultCredentialsProvider.builder().build());
            TimedCalls timed = new TimedCalls(new dev.launch.agent.target.TargetCalls(metrics, TYPE));
            var sm = SageMakerClient.builder().httpClientBuilder(UrlConnectionHttpClient.builder())
                    .credentialsProvider(credentials);
            var logs = CloudWatchLogsClient.builder().httpClientBuilder(UrlConnectionHttpClient.builder())
                    .credentialsProvider(credentials);
            // one override configuration each: a second call would replace the first
            sm.overrideConfiguration(o -> {
                o.addExecutionInterceptor(timed);
                profile.ifPresent(o::defaultProfileName);
            });
            logs.overrideConfiguration(o -> {
                o.addExecutionInterceptor(timed);
                profile.ifPresent(o::defaultProfileName);
            });
            region.ifPresent(r -> {
                sm.region(Region.of(r));
                logs.region(Region.of(r));
            });
            endpoint.ifPresent(u -> {
                sm.endpointOverride(URI.create(u));
                logs.endpointOverride(URI.create(u));
            });
            Account made = new Account(k, sm.build(), logs.build(), true);
            LOG.infof("sagemaker target: clients for region %s%s", region.orElse("(the SDK's default)"),
                    profile.map(p -> ", profile " + p).orElse(""));
            return made;
        });
    }

    /** Times each SageMaker and CloudWatch Logs operation, retries included, by its API name. */
    static final class TimedCalls implements software.amazon.awssdk.core.interceptor.ExecutionInterceptor {
        private static final software.amazon.awssdk.core.interceptor.ExecutionAttribute<Long> STARTED =
                new software.amazon.awssdk.core.interceptor.ExecutionAttribute<>("launch-started");
        private final dev.launch.agent.target.TargetCalls calls;

        TimedCalls(dev.launch.agent.target.TargetCalls calls) {
            this.calls = calls;
        }

        @Override
        public void beforeExecution(software.amazon.awssdk.core.interceptor.Context.BeforeExecution context,
                                    software.amazon.awssdk.core.interceptor.ExecutionAttributes attributes) {
            attributes.putAttribute(STARTED, System.nanoTime());
        }

        @Override
        public void afterExecution(software.amazon.awssdk.core.interceptor.Context.AfterExecution context,
                                   software.amazon.awssdk.core.interceptor.ExecutionAttributes attributes) {
            done(attributes, false);
        }

        @Override
        public void onExecutionFailure(software.amazon.awssdk.core.interceptor.Context.FailedExecution context,
                                       software.amazon.awssdk.core.interceptor.ExecutionAttributes attributes) {
            done(attributes, true);
        }

        private void done(software.amazon.awssdk.core.interceptor.ExecutionAttributes attributes, boolean failed) {
            Long at = attributes.getAttribute(STARTED);
            String operation = attributes.getAttribute(
                    software.amazon.awssdk.core.interceptor.SdkExecutionAttribute.OPERATION_NAME);
            if (at != null) {
                calls.record(operation == null ? "(unknown)" : operation, at, failed);
            }
        }
    }

    /** The CreateTrainingJob request of one attempt. */
    CreateTrainingJobRequest requestFor(RunRequest request, String handle) {
        ObjectNode cfg = request.target().get("config") instanceof ObjectNode o ? o
                : dev.launch.common.event.Events.MAPPER.createObjectNode();
        CreateTrainingJobRequest.Builder b = SageMakerConfig.request(cfg);
        CreateTrainingJobRequest base = b.build();
        b.trainingJobName(handle);
        if (base.roleArn() == null) {
            JsonNode role = request.target().get("roleArn");
            if (role == null || !role.isTextual()) {
                throw new IllegalArgumentException("no RoleArn: set it in the queue's config or roleArn in its target");
            }
            b.roleArn(role.asText());
        }
        AlgorithmSpecification.Builder spec = base.algorithmSpecification() == null ? AlgorithmSpecification.builder()
                : base.algorithmSpecification().toBuilder();
        if (base.algorithmSpecification() == null || base.algorithmSpecification().trainingInputMode() == null) {
            spec.trainingInputMode("File");
        }
        if (request.source() == null || request.source().image() == null) {
            throw new IllegalArgumentException("a sagemaker run needs a job from an image");
        }
        spec.trainingImage(request.source().image());
        List<String> command = request.command() == null ? List.of() : request.command();
        if (command.size() > 101 || command.stream().anyMatch(a -> a.length() > 256)) {
            throw new IllegalArgumentException("SageMaker takes an entrypoint and at most 100 arguments of at most "
                    + "256 characters each; this run's command has " + command.size() + " items");
        }
        if (!command.isEmpty()) {
            spec.containerEntrypoint(command.get(0));
            if (command.size() > 1) {
                spec.containerArguments(command.subList(1, command.size()));
            }
        }
        b.algorithmSpecification(spec.build());
        Map<String, String> env = new LinkedHashMap<>(base.hasEnvironment() ? base.environment() : Map.of());
        env.putAll(RunEnvironment.of(request));
        env.forEach((k, v) -> {
            if (v.length() > SageMakerConfig.MAX_ENVIRONMENT_VALUE) {
                throw new IllegalArgumentException("environment variable " + k + " is " + v.length()
                        + " characters; SageMaker takes at most " + SageMakerConfig.MAX_ENVIRONMENT_VALUE);
            }
        });
        b.environment(env);
        List<Tag> tags = new ArrayList<>(base.hasTags() ? base.tags() : List.of());
        tags.add(Tag.builder().key(SageMakerConfig.TAG_RUN_ID).value(request.runId()).build());
        tags.add(Tag.builder().key(SageMakerConfig.TAG_QUEUE).value(request.queue()).build());
        tags.add(Tag.builder().key(SageMakerConfig.TAG_ATTEMPT).value(String.valueOf(request.attempt())).build());
        tags.add(Tag.builder().key(SageMakerConfig.TAG_INSTALLATION).value(installation).build());
        b.tags(tags);
        return b.build();
    }

    @Override
    public void submit(RunRequest request, String handle, TargetObserver observer) {
        Account account;
        CreateTrainingJobRequest create;
        try {
            account = account(request);
            create = requestFor(request, handle);
        } catch (IllegalArgumentException e) {
            observer.failed(FailureStage.TARGET.wire(), "the queue's CreateTrainingJob body is refused: "
                    + e.getMessage(), null);
            return;
        } catch (SdkException e) {
            observer.failed(FailureStage.TARGET.wire(), "no SageMaker client can be made: " + e.getMessage()
                    + " (set region in the queue's target, or AWS_REGION for the agent)", null);
            return;
        }
        if (stoppedEarly.remove(handle)) {
            observer.stopped(null);
            return;
        }
        if (!observer.launching()) {
            return;
        }
        Watched w = new Watched(handle, request, observer, account, -1);
        watched.put(handle, w);
        startLogReader();
        create(w, create, 0);
    }

    /** One try of CreateTrainingJob; what cannot be decided now is tried again later, on the calls threads. */
    private void create(Watched w, CreateTrainingJobRequest create, int tries) {
        if (w.ended) {
            return;
        }
        if (w.stopRequested) {
            end(w, () -> w.observer.stopped(null));
            return;
        }
        try {
            counted("CreateTrainingJob", 1);
            w.account.sageMaker.createTrainingJob(create);
            w.created = true;
            LOG.infof("run %s: created training job %s", w.request.runId(), w.handle);
            if (w.stopRequested) {
                stopJob(w); // asked while the create was on its way
            }
            tickSoon();
        } catch (AwsServiceException e) {
            String code = e.awsErrorDetails() == null ? "" : e.awsErrorDetails().errorCode();
            String message = e.awsErrorDetails() != null && e.awsErrorDetails().errorMessage() != null
                    ? e.awsErrorDetails().errorMessage() : e.getMessage();
            switch (code) {
                case "ResourceInUse" -> adoptExisting(w);
                case "ResourceLimitExceeded" -> retryLater(w, create, tries, "ResourceLimitExceeded: " + message);
                case "ValidationException" -> refused(w, "SageMaker refused the training job: " + message);
                case "AccessDeniedException" -> refused(w, "SageMaker refused the training job (" + code + "): "
                        + message + ". The agent needs sagemaker:CreateTrainingJob and iam:PassRole on the role");
                default -> {
                    if (e.isThrottlingException() || e.statusCode() >= 500) {
                        retryLater(w, create, tries, "SageMaker answered " + code + " (" + e.statusCode() + ")");
                    } else {
                        refused(w, "SageMaker refused the training job (" + code + "): " + message);
                    }
                }
            }
        } catch (SdkException e) {
            // no answer: the job may or may not exist; trying again is safe (a second create of the name is
            // refused with ResourceInUse, and then the job is checked and adopted)
            retryLater(w, create, tries, "SageMaker could not be reached (" + e.getMessage() + ")");
        }
    }

    private void refused(Watched w, String reason) {
        end(w, () -> w.observer.failed(FailureStage.TARGET.wire(), reason, null));
    }

    /** Keeps the run STARTING with the reason and tries again with jittered backoff (the start timeout ends it). */
    private void retryLater(Watched w, CreateTrainingJobRequest create, int tries, String why) {
        long max = timings().createRetryMax().toMillis();
        long pause = Math.min(max, (long) (timings().pollMin().toMillis() * Math.pow(2, Math.min(tries, 16))));
        pause = Math.max(50, (long) (pause * (0.8 + 0.4 * ThreadLocalRandom.current().nextDouble())));
        String reason = why + "; trying again in " + Math.max(1, Math.round(pause / 1000.0)) + " s";
        if (!reason.equals(w.lastReason)) {
            w.lastReason = reason;
            w.observer.progressed(reason);
        }
        dev.launch.messaging.RunLog.infof(LOG, w.request.runId(), w.request.queue(), null, "run %s: %s",
                w.request.runId(), reason);
        w.retry = calls.schedule(() -> create(w, create, tries + 1), pause, TimeUnit.MILLISECONDS);
    }

    /** A job of the attempt's name exists: watched if it is this attempt's, else the run fails and it is left. */
    private void adoptExisting(Watched w) {
        try {
            DescribeTrainingJobResponse job = describe(w.account, w.handle);
            if (job != null && owned(w.account, job, w.request)) {
                LOG.infof("training job %s exists already (the run's item was taken again, or a create was "
                        + "answered late); watching it", w.handle);
                w.created = true;
                w.changed = true;
                tickSoon();
                return;
            }
            refused(w, "a training job named " + w.handle + " exists and is not this run's attempt (its tags "
                    + "say otherwise); it was left alone");
        } catch (SdkException e) {
            refused(w, "a training job named " + w.handle + " exists but cannot be read: " + e.getMessage());
        }
    }

    /** Whether {@code job} is {@code request}'s attempt: its tags, else the LAUNCH_* of its Environment. */
    private boolean owned(Account account, DescribeTrainingJobResponse job, RunRequest request) {
        try {
            counted("ListTags", 1);
            Map<String, String> tags = new LinkedHashMap<>();
            account.sageMaker.listTags(r -> r.resourceArn(job.trainingJobArn())).tags()
                    .forEach(t -> tags.put(t.key(), t.value()));
            if (tags.containsKey(SageMakerConfig.TAG_RUN_ID)) {
                return request.runId().equals(tags.get(SageMakerConfig.TAG_RUN_ID))
                        && String.valueOf(request.attempt()).equals(tags.get(SageMakerConfig.TAG_ATTEMPT))
                        && installation.equals(tags.get(SageMakerConfig.TAG_INSTALLATION));
            }
        } catch (AwsServiceException e) {
            LOG.debugf("ListTags of %s failed (%s); checking its environment", job.trainingJobName(), e.getMessage());
        }
        Map<String, String> env = job.hasEnvironment() ? job.environment() : Map.of();
        return request.runId().equals(env.get("LAUNCH_RUN_ID"))
                && String.valueOf(request.attempt()).equals(env.get("LAUNCH_ATTEMPT"));
    }

    /** The job, or null when SageMaker says it does not exist. */
    private DescribeTrainingJobResponse describe(Account account, String name) {
        try {
            counted("DescribeTrainingJob", 1);
            return account.sageMaker.describeTrainingJob(r -> r.trainingJobName(name));
        } catch (AwsServiceException e) {
            if (e.awsErrorDetails() != null && "ValidationException".equals(e.awsErrorDetails().errorCode())
                    && String.valueOf(e.awsErrorDetails().errorMessage()).contains("not found")) {
                return null;
            }
            throw e;
        }
    }

    @Override
    public void attach(RunRequest request, String handle, long afterPosition, TargetObserver observer) {
        Account account;
        DescribeTrainingJobResponse job;
        try {
            account = account(request);
            job = describe(account, handle);
        } catch (SdkException | IllegalArgumentException e) {
            observer.failed(FailureStage.AGENT.wire(), "the run's training job cannot be watched: " + e.getMessage(),
                    null);
            return;
        }
        if (job == null) {
            observer.failed(FailureStage.TARGET.wire(), "training job " + handle + " is gone from SageMaker: it "
                    + "was never created, or deleted; the run's end is unknown", null);
            return;
        }
        if (!owned(account, job, request)) {
            observer.failed(FailureStage.TARGET.wire(), "training job " + handle + " is not this run's attempt (its "
                    + "tags say otherwise); it was left alone", null);
            return;
        }
        Watched w = new Watched(handle, request, observer, account, afterPosition);
        w.created = true;
        watched.put(handle, w);
        startLogReader();
        tickSoon();
    }

    // ---- the poller ----------------------------------------------------------------------------------------

    /**
     * A state look now (a job was created, attached or stopped). A tick under way may have gathered its jobs
     * already, so the flag makes it look again at once when it ends.
     */
    private synchronized void tickSoon() {
        lookSoon = true;
        if (nextTick != null && !nextTick.isDone() && nextTick.getDelay(TimeUnit.MILLISECONDS) <= 0) {
            return; // running or about to: it sees the flag
        }
        if (nextTick != null) {
            nextTick.cancel(false);
        }
        nextTick = poller.schedule(this::tick, 0, TimeUnit.MILLISECONDS);
    }

    /**
     * One look at every account with watched jobs: their states when due (every {@link #interval}: short while
     * something changes, doubling up to poll-max while nothing does, backed off with jitter on throttling and
     * server errors), their logs when due (every log-interval, within the CloudWatch call budget).
     */
    private void tick() {
        Timings t = timings();
        long now = System.currentTimeMillis();
        long min = t.pollMin().toMillis();
        long max = t.pollMax().toMillis();
        boolean asked;
        synchronized (this) {
            asked = lookSoon;
            lookSoon = false;
        }
        boolean statesDue = asked || now >= nextStateLook;
        boolean busy = false;
        boolean backOff = false;
        try {
            for (Account account : List.copyOf(accounts.values())) {
                List<Watched> mine = watched.values().stream().filter(w -> w.account == account && w.created
                        && !w.ended).toList();
                if (mine.isEmpty()) {
                    continue;
                }
                try {
                    busy |= look(account, mine, statesDue, now);
                } catch (SdkException e) {
                    backOff = true;
                    LOG.infof("sagemaker poller: %s; backing off", e.getMessage());
                }
            }
        } catch (RuntimeException e) {
            LOG.warnf(e, "sagemaker poller failed; going on");
        }
        synchronized (this) {
            if (statesDue || backOff) {
                if (backOff) {
                    interval = Math.min(60_000, Math.max(interval * 2, 1000));
                } else if (busy || asked) {
                    interval = min;
                } else {
                    interval = Math.min(max, Math.max(min, interval * 2));
                }
                double jitter = backOff ? 0.8 + 0.4 * ThreadLocalRandom.current().nextDouble() : 1.0;
                nextStateLook = now + (long) (interval * jitter);
            }
            if (lookSoon) {
                interval = min;
                nextStateLook = now;
            }
            long next = nextStateLook;
            boolean any = watched.values().stream().anyMatch(w -> w.created && !w.ended);
            nextTick = any ? poller.schedule(this::tick, Math.max(10, next - now), TimeUnit.MILLISECONDS) : null;
        }
    }

    /** Lists what changed in the account, describes the watched jobs among it, reads logs; true when busy. */
    private boolean look(Account account, List<Watched> mine, boolean statesDue, long now) {
        Map<String, Watched> byName = new LinkedHashMap<>();
        mine.forEach(w -> byName.put(w.handle, w));
        boolean fullLook = now - account.lastFullLook >= FULL_LOOK_MS;
        if (!statesDue) {
            // logs only
        } else if (fullLook) {
            account.lastFullLook = now;
            mine.forEach(w -> w.changed = true);
        } else if (account.newest != null) {
            Instant after = account.newest.minusMillis(LIST_OVERLAP_MS);
            String next = null;
            do {
                String token = next;
                counted("ListTrainingJobs", 1);
                ListTrainingJobsResponse page = account.sageMaker.listTrainingJobs(r -> r.lastModifiedTimeAfter(after)
                        .nameContains("launch-").maxResults(100).nextToken(token));
                for (TrainingJobSummary s : page.trainingJobSummaries()) {
                    newest(account, s.lastModifiedTime());
                    Watched w = byName.get(s.trainingJobName());
                    if (w != null && (w.lastModified == null || !w.lastModified.equals(s.lastModifiedTime())
                            || !s.trainingJobStatusAsString().equals(w.lastStatus))) {
                        w.changed = true;
                    }
                }
                next = page.nextToken();
            } while (next != null && !next.isEmpty());
        }
        boolean busy = false;
        for (Watched w : mine) {
            if (w.changed && w.pendingEnd == null) {
                w.changed = false;
                DescribeTrainingJobResponse job = describe(account, w.handle);
                if (job == null) {
                    end(w, () -> w.observer.failed(FailureStage.TARGET.wire(), "training job " + w.handle
                            + " is gone from SageMaker", null));
                    continue;
                }
                newest(account, job.lastModifiedTime());
                w.lastModified = job.lastModifiedTime();
                w.lastStatus = job.trainingJobStatusAsString();
                judge(w, job);
                busy = true;
            }
            busy |= w.pendingEnd == null && (!w.runningReported || w.stopRequested);
        }
        return busy;
    }

    private static void newest(Account account, Instant seen) {
        if (seen != null && (account.newest == null || seen.isAfter(account.newest))) {
            account.newest = seen;
        }
    }

    /** What the job's description says, told to its observer; on the poller thread only. */
    private void judge(Watched w, DescribeTrainingJobResponse job) {
        String message = job.hasSecondaryStatusTransitions() && !job.secondaryStatusTransitions().isEmpty()
                ? job.secondaryStatusTransitions().get(job.secondaryStatusTransitions().size() - 1).statusMessage()
                : null;
        JobStates.Observation seen = JobStates.of(job.trainingJobStatusAsString(), job.secondaryStatusAsString(),
                message, job.failureReason(), w.stopRequested, w.runningReported);
        if (seen instanceof JobStates.Progress p) {
            reason(w, p.reason());
        } else if (seen instanceof JobStates.Running r) {
            running(w);
            reason(w, r.reason());
        } else if (seen instanceof JobStates.Stopping s) {
            if (!w.stopRequested) {
                reason(w, s.reason());
            }
        } else if (seen instanceof JobStates.Finished) {
            endAfterLogs(w, () -> {
                running(w);
                w.observer.exited(0);
            });
        } else if (seen instanceof JobStates.Failed f) {
            endAfterLogs(w, () -> {
                if (f.started()) {
                    running(w);
                }
                w.observer.failed(f.stage(), f.reason(), f.exitCode());
            });
        } else if (seen instanceof JobStates.Stopped) {
            endAfterLogs(w, () -> w.observer.stopped(null));
        } else if (seen instanceof JobStates.Preempted p) {
            endAfterLogs(w, () -> w.observer.preempted(p.reason()));
        }
    }

    private void reason(Watched w, String reason) {
        if (reason != null && !reason.equals(w.lastReason)) {
            w.lastReason = reason;
            w.observer.progressed(reason);
        }
    }

    private void running(Watched w) {
        if (!w.runningReported) {
            w.runningReported = true;
            w.observer.running();
        }
    }

    /** The job ended: its output is read until it is quiet (CloudWatch lags), then the end is reported. */
    private void endAfterLogs(Watched w, Runnable report) {
        if (w.pendingEnd == null) {
            w.endSeenAt = System.currentTimeMillis();
            w.pendingEnd = report; // the log reader reads the last lines, then reports
        }
    }

    /** Starts the log reader (once, with the first job watched). */
    private void startLogReader() {
        if (logReaderStarted.compareAndSet(false, true)) {
            logReader.scheduleWithFixedDelay(this::readAllLogs, 50, 50, TimeUnit.MILLISECONDS);
        }
    }

    /**
     * One round of the log reader: the budget (log-calls-per-second, up to 5 s of it saved) goes first to ended
     * jobs (their slots wait for their last lines), then to the most overdue running ones.
     */
    private void readAllLogs() {
        try {
            Timings t = timings();
            long now = System.currentTimeMillis();
            logBudget = Math.min(t.logCallsPerSecond() * 5.0,
                    logBudget + t.logCallsPerSecond() * Math.max(0, now - lastTick) / 1000.0);
            lastTick = now;
            List<Watched> due = new ArrayList<>();
            for (Watched w : watched.values()) {
                if (w.created && !w.ended && (w.runningReported || w.pendingEnd != null)) {
                    due.add(w);
                }
            }
            due.sort(java.util.Comparator.comparing((Watched w) -> w.pendingEnd == null)
                    .thenComparingLong(w -> w.nextLogRead));
            for (Watched w : due) {
                if (!w.ended) {
                    readLogs(w, System.currentTimeMillis());
                }
            }
        } catch (RuntimeException e) {
            LOG.warnf(e, "sagemaker log reader failed; going on");
        }
    }

    /** Reads the job's logs when due and the budget allows; reports a pending end once they are quiet. */
    private boolean readLogs(Watched w, long now) {
        Timings t = timings();
        if (w.pendingEnd != null && !w.endNoticed) {
            w.endNoticed = true;
            w.nextLogRead = 0; // the end was just seen: read at once, listing the streams again
            w.logs.relist();
        }
        boolean due = now >= w.nextLogRead && (w.runningReported || w.pendingEnd != null);
        boolean read = false;
        if (due && logBudget >= 1) {
            try {
                int n = w.logs.read(w.account.logs);
                counted("CloudWatchLogs", n);
                logBudget -= n;
                read = true;
                if (w.pendingEnd != null) {
                    w.logReadsAfterEnd++;
                }
            } catch (SdkException e) {
                LOG.debugf("reading the logs of %s failed (%s); trying again", w.handle, e.getMessage());
            }
            long every = w.pendingEnd != null ? Math.min(t.logInterval().toMillis(), Math.max(100,
                    t.logQuiet().toMillis() / 2)) : t.logInterval().toMillis();
            w.nextLogRead = now + every;
        }
        if (w.pendingEnd != null) {
            long quietSince = Math.max(w.logs.lastNewLine, w.endSeenAt);
            boolean quiet = w.logReadsAfterEnd > 0 && now - quietSince >= t.logQuiet().toMillis();
            if (quiet || now - w.endSeenAt >= t.logGrace().toMillis()) {
                end(w, w.pendingEnd);
            }
            return true;
        }
        return read;
    }

    /** Reports the end once and stops watching. */
    private void end(Watched w, Runnable report) {
        if (w.ended) {
            return;
        }
        w.ended = true;
        try {
            report.run();
        } finally {
            watched.remove(w.handle, w);
        }
    }

    // ---- stop, detach, find, shutdown ----------------------------------------------------------------------

    @Override
    public void stop(String handle) {
        Watched w = watched.get(handle);
        if (w == null) {
            stoppedEarly.add(handle); // not submitted yet: it will not be
            return;
        }
        w.stopRequested = true;
        ScheduledFuture<?> retry = w.retry;
        if (!w.created && retry != null && retry.cancel(false)) {
            // a create waiting to be tried again: nothing was made, unless an unanswered try did; stop that too
            calls.execute(() -> {
                stopJob(w);
                end(w, () -> w.observer.stopped(null));
            });
            return;
        }
        calls.execute(() -> {
            stopJob(w);
            tickSoon();
        });
    }

    private void stopJob(Watched w) {
        try {
            counted("StopTrainingJob", 1);
            w.account.sageMaker.stopTrainingJob(r -> r.trainingJobName(w.handle));
            dev.launch.messaging.RunLog.infof(LOG, w.request.runId(), w.request.queue(), null,
                    "run %s: stopping training job %s", w.request.runId(), w.handle);
        } catch (AwsServiceException e) {
            // not InProgress any more (it ended meanwhile: the poller says how), or never created
            LOG.infof("StopTrainingJob %s: %s", w.handle, e.awsErrorDetails() == null ? e.getMessage()
                    : e.awsErrorDetails().errorMessage());
        } catch (SdkException e) {
            LOG.warnf("StopTrainingJob %s could not be sent (%s); trying again", w.handle, e.getMessage());
            calls.schedule(() -> stopJob(w), 2, TimeUnit.SECONDS);
        }
    }

    @Override
    public void detach(String handle) {
        Watched w = watched.remove(handle);
        if (w != null) {
            w.ended = true;
            ScheduledFuture<?> retry = w.retry;
            if (retry != null) {
                retry.cancel(false);
            }
        }
    }

    @Override
    public List<String> find(String queue) {
        List<String> names = new ArrayList<>();
        for (Account account : List.copyOf(accounts.values())) {
            String next = null;
            do {
                String token = next;
                counted("ListTrainingJobs", 1);
                ListTrainingJobsResponse page = account.sageMaker.listTrainingJobs(r -> r.nameContains("launch-")
                        .statusEquals(TrainingJobStatus.IN_PROGRESS).maxResults(100).nextToken(token));
                for (TrainingJobSummary s : page.trainingJobSummaries()) {
                    counted("ListTags", 1);
                    Map<String, String> tags = new LinkedHashMap<>();
                    account.sageMaker.listTags(r -> r.resourceArn(s.trainingJobArn())).tags()
                            .forEach(tag -> tags.put(tag.key(), tag.value()));
                    if (queue.equals(tags.get(SageMakerConfig.TAG_QUEUE))
                            && installation.equals(tags.get(SageMakerConfig.TAG_INSTALLATION))) {
                        names.add(s.trainingJobName());
                    }
                }
                next = page.nextToken();
            } while (next != null && !next.isEmpty());
        }
        return names;
    }

    @Override
    public void shutdown(Duration within) {
        // training jobs outlive the agent: left running for another agent to adopt
        List.copyOf(watched.keySet()).forEach(this::detach);
    }

    @PreDestroy
    void close() {
        shutdown(Duration.ZERO);
        poller.shutdownNow();
        logReader.shutdownNow();
        calls.shutdownNow();
        accounts.values().forEach(a -> {
            if (a.own) {
                a.sageMaker.close();
                a.logs.close();
            }
        });
    }
}
