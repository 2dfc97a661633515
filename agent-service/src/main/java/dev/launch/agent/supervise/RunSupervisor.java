package dev.launch.agent.supervise;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.launch.agent.config.AgentConfig;
import dev.launch.agent.config.AgentIdentity;
import dev.launch.agent.dispatch.CrashPoints;
import dev.launch.agent.dispatch.Slots;
import dev.launch.agent.messaging.EventPublisher;
import dev.launch.agent.messaging.RunTraces;
import dev.launch.agent.target.Handles;
import dev.launch.agent.target.Target;
import dev.launch.agent.target.TargetObserver;
import dev.launch.common.event.AdoptRun;
import dev.launch.common.event.EventEnvelope;
import dev.launch.common.event.EventTypes;
import dev.launch.common.event.RunLifecycle;
import dev.launch.common.event.RunRequest;
import dev.launch.common.event.RunTaken;
import dev.launch.common.event.Topics;
import dev.launch.common.run.FailureStage;
import dev.launch.messaging.RunCommandsReader;
import dev.launch.common.template.ConfigTemplate;
import dev.launch.messaging.RunLog;
import io.micrometer.core.instrument.MeterRegistry;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.context.Scope;
import jakarta.annotation.PostConstruct;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Any;
import jakarta.enterprise.inject.Instance;
import jakarta.inject.Inject;
import org.apache.kafka.common.TopicPartition;
import org.jboss.logging.Logger;

import java.time.Duration;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Owns the runs this agent holds: submits each to its queue's {@link Target} under the attempt's handle, turns
 * what the target observes into run facts and log batches, stops runs on request, and takes over (adopts) work
 * of its queues whose owner is gone (ADR 0002). A run holds one of the agent's slots from its take (or adoption)
 * until its end is reported.
 */
@ApplicationScoped
public class RunSupervisor {
    private static final Logger LOG = Logger.getLogger(RunSupervisor.class);

    @Inject
    EventPublisher events;
    @Inject
    AgentIdentity agent;
    @Inject
    AgentConfig config;
    @Inject
    @Any
    Instance<Target> targetBeans;
    @Inject
    MeterRegistry metrics;
    @Inject
    RunTraces traces;

    private final Map<String, Target> targets = new HashMap<>();
    private final Map<String, Held> held = new ConcurrentHashMap<>();
    private final Object ended = new Object();
    private volatile RunCommandsReader commands;
    private volatile Slots slots;
    /** adoptions this agent could not answer for want of a slot, tried again when one frees */
    private final Map<String, AdoptRun> waitingAdoptions = new ConcurrentHashMap<>();
    /** items this agent process has launched (run id + item id), the most recent 100,000 */
    private final Map<String, Boolean> launched = Collections.synchronizedMap(
            new LinkedHashMap<>(1024, 0.75f, false) {
                @Override
                protected boolean removeEldestEntry(Map.Entry<String, Boolean> eldest) {
                    return size() > 100_000;
                }
            });
    /** submissions and adoptions' first look: bounded, so a burst of runs does not make a thread per run */
    private final java.util.concurrent.ThreadPoolExecutor workers = new java.util.concurrent.ThreadPoolExecutor(
            SUBMITTERS, SUBMITTERS, 30, TimeUnit.SECONDS, new java.util.concurrent.LinkedBlockingQueue<>(), r -> {
        Thread t = new Thread(r, "run-submit");
        t.setDaemon(true);
        return t;
    });
    private static final int SUBMITTERS = 8;
    private final ExecutorService adoptions = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "run-adoption");
        t.setDaemon(true);
        return t;
    });
    private final ScheduledExecutorService flusher = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "log-flusher");
        t.setDaemon(true);
        return t;
    });
    private volatile boolean flusherStarted;
    private volatile boolean shuttingDown;

    /** A run this agent holds. */
    private static final class Held {
        final RunRequest request;
        final Runnable done;
        volatile Target target;
        volatile String handle;
        volatile Reporter reporter;
        volatile ScheduledFuture<?> startDeadline;
        final AtomicBoolean released = new AtomicBoolean();

        Held(RunRequest request, Runnable done) {
            this.request = request;
            this.done = done;
        }
    }

    @PostConstruct
    void findTargets() {
        workers.allowCoreThreadTimeOut(true);
        for (Target t : targetBeans) {
            Target before = targets.put(t.type(), t);
            if (before != null) {
                throw new IllegalStateException("two targets serve '" + t.type() + "': " + before.getClass().getName()
                        + " and " + t.getClass().getName());
            }
        }
    }

    /** Launches a claimed run; {@code done} runs once it has ended and its end is reported. */
    public void launch(RunRequest claimed, Runnable done) {
        try (RunLog.Scope ignored = RunLog.scope(claimed.runId(), claimed.queue(), agent.id())) {
            launchInScope(claimed, done);
        }
    }

    private void launchInScope(RunRequest claimed, Runnable done) {
        RunRequest request = withMacrosExpanded(claimed);
        RunLifecycle base = RunLifecycle.of(request.runId(), request.queue()).withAgent(agent.id(), request.attempt());
        if (shuttingDown) {
            events.run(EventTypes.RUN_FAILED, base.withFailure(FailureStage.AGENT.wire(),
                    "the agent shut down before it could launch the run"));
            done.run();
            return;
        }
        startFlusher();
        Held h = new Held(request, done);
        held.put(request.runId(), h);
        metrics.counter("launch_agent_runs_launched_total", "queue", request.queue()).increment();
        workers.execute(RunLog.propagating(() -> {
            LogShipper logs = new LogShipper(events, request.runId(), request.attempt(), agent.id(),
                    config.logBatchLines(), config.logFlushInterval());
            Target target = targets.get(request.target().path("type").asText());
            if (target == null) {
                Reporter reporter = new Reporter(h, base, logs, request.item());
                h.reporter = reporter;
                reporter.failed(FailureStage.AGENT.wire(), "this agent has no target " + request.target().path("type")
                        .asText() + " (it has " + targets.keySet() + ")", null);
                return;
            }
            String handle = Handles.of(request.runId(), request.attempt(), target.maxHandleLength());
            h.target = target;
            h.handle = handle;
            Reporter reporter = new Reporter(h, base.withTarget(target.type(), handle), logs, request.item());
            h.reporter = reporter;
            Span span = traces.begin("submit " + target.type(), SpanKind.CLIENT, request, agent.id());
            try (Scope current = span.makeCurrent()) {
                h.startDeadline = scheduleStartTimeout(h);
                events.run(EventTypes.RUN_STARTING, reporter.base);
                // a target finds work that exists under the handle already (an item taken again after its work
                // was submitted) and watches it instead of submitting a second copy
                target.submit(request, handle, reporter.inRun());
            } catch (RuntimeException e) {
                LOG.errorf(e, "run %s failed inside the agent", request.runId());
                span.recordException(e).setStatus(StatusCode.ERROR, "the agent failed while launching it");
                reporter.failed(FailureStage.AGENT.wire(), "the agent failed while launching it: " + e, null);
            } finally {
                span.end();
            }
        }));
    }

    /**
     * With a start timeout: if the run has not reached RUNNING by then, it is stopped and FAILED in stage
     * {@code target} ("did not start within ..."); what the target reports after that is ignored.
     */
    private ScheduledFuture<?> scheduleStartTimeout(Held h) {
        RunRequest request = h.request;
        if (request.startTimeout() == null) {
            return null;
        }
        Duration timeout;
        try {
            timeout = Duration.parse(request.startTimeout());
        } catch (java.time.format.DateTimeParseException e) {
            LOG.warnf("run %s has an unreadable start timeout '%s'; none applies", request.runId(),
                    request.startTimeout());
            return null;
        }
        Runnable timedOut = RunLog.propagating(() -> h.reporter.startTimedOut(request.startTimeout()));
        return flusher.schedule(() -> workers.execute(timedOut), timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** The target config with {@code ${run_id}}, {@code ${queue}}, {@code ${job}} ... filled in. */
    public static RunRequest withMacrosExpanded(RunRequest r) {
        JsonNode config = r.target().get("config");
        if (config == null) {
            return r;
        }
        ObjectNode target = r.target().deepCopy();
        String image = r.source() != null && r.source().image() != null ? r.source().image() : null;
        Map<String, String> macros = new HashMap<>(Map.of("run_id", r.runId(), "queue", r.queue(), "job", r.job(),
                "job_version", String.valueOf(r.jobVersion()), "attempt", String.valueOf(r.attempt()),
                "project_name", r.job(), "entity_name", "local"));
        if (image != null) {
            macros.put("image_uri", image);
        }
        target.set("config", ConfigTemplate.expandMacros(config, macros));
        return new RunRequest(r.runId(), r.queue(), r.job(), r.jobVersion(), r.jobDigest(), r.source(), r.command(),
                r.inputs(), target, r.attempt(), r.maxAttempts(), r.priority(), r.enqueuedAt(), r.itemId(),
                r.startTimeout(), r.traceParent());
    }

    /** The agent's reader of launch.run-commands, which launch and adoption records are checked against. */
    public void useCommands(RunCommandsReader reader) {
        this.commands = reader;
    }

    /** The agent's slots, which adopted runs hold too. */
    public void useSlots(Slots slots) {
        this.slots = slots;
    }

    /**
     * True the first time this agent process is about to launch {@code itemId} of {@code runId}: an item read
     * again after a failed offset commit is taken again by the same agent, and the ledger cannot tell that
     * from a retried take that never launched.
     */
    public boolean firstLaunch(String runId, String itemId) {
        return launched.putIfAbsent(runId + "/" + itemId, Boolean.TRUE) == null;
    }

    /** Waits until a held run ends, or {@code atMost}. */
    public void awaitChange(Duration atMost) throws InterruptedException {
        synchronized (ended) {
            if (!held.isEmpty()) {
                ended.wait(Math.max(1, atMost.toMillis()));
            }
        }
    }

    /** A stop for a run this agent holds; other runs are none of its business. */
    public void stop(String runId, String reason) {
        Held h = held.get(runId);
        if (h == null) {
            return;
        }
        try (RunLog.Scope ignored = RunLog.scope(runId, h.request.queue(), agent.id())) {
            LOG.infof("stopping run %s: %s", runId, reason);
            Span span = traces.begin("stop " + (h.target == null ? "run" : h.target.type()), SpanKind.CLIENT,
                    h.request, agent.id());
            try (Scope current = span.makeCurrent()) {
                events.run(EventTypes.RUN_STOPPING, RunLifecycle.of(runId, h.request.queue())
                        .withAgent(agent.id(), h.request.attempt()).withReason(reason));
                if (h.target != null && h.handle != null) {
                    h.target.stop(h.handle);
                }
            } finally {
                span.end();
            }
        }
    }

    /**
     * The run was queued again as a new attempt ({@code MoveRun} with an attempt: this agent was judged lost
     * while it held {@code itemId}); if this agent still runs that item, it ends it. What it reports about the
     * old attempt afterwards is ignored by the status service.
     */
    public void abandon(String runId, String itemId, int newAttempt) {
        Held h = held.get(runId);
        if (h == null || !h.request.item().equals(itemId)) {
            return;
        }
        try (RunLog.Scope ignored = RunLog.scope(runId, h.request.queue(), agent.id())) {
            LOG.warnf("run %s was retried as attempt %d while this agent still held attempt %d; ending it", runId,
                    newAttempt, h.request.attempt());
            if (h.target != null && h.handle != null) {
                h.target.stop(h.handle);
            }
        }
    }

    /**
     * An adoption opened for a run of this agent's queues (called on the command reader's thread): answered on
     * the adoption thread when the agent has a free slot (or holds the run itself), else when one frees.
     */
    public void offerAdoption(AdoptRun adopt) {
        if (!agent.queues().contains(adopt.queue()) || shuttingDown) {
            return;
        }
        adoptions.execute(() -> {
            try {
                adopt(adopt);
            } catch (RuntimeException e) {
                LOG.warnf(e, "adopting run %s failed; another agent may take it", adopt.runId());
            }
        });
    }

    private void adopt(AdoptRun adopt) {
        try (RunLog.Scope ignored = RunLog.scope(adopt.runId(), adopt.queue(), agent.id())) {
            adoptInScope(adopt);
        }
    }

    private void adoptInScope(AdoptRun adopt) {
        RunCommandsReader reader = commands;
        AdoptRun open = reader == null ? null : reader.ledger().openAdoption(adopt.runId());
        // this agent's answer held though it could not tell (its read-back timed out): the run is its own to watch
        boolean answered = reader != null && open == null && !held.containsKey(adopt.runId())
                && agent.id().equals(reader.ledger().owner(adopt.runId(), adopt.itemId()));
        if (reader == null || shuttingDown || !(adopt.equals(open) || answered)) {
            waitingAdoptions.remove(adopt.runId());
            return; // answered by someone meanwhile
        }
        Held mine = held.get(adopt.runId());
        if (mine != null && mine.request.attempt() != adopt.attempt()) {
            return;
        }
        Target target = targets.get(adopt.targetType());
        if (target == null || !target.adoptable()) {
            LOG.warnf("cannot adopt run %s: this agent has no adoptable target %s", adopt.runId(), adopt.targetType());
            return;
        }
        boolean slot = mine == null;
        if (slot && (slots == null || !slots.tryTake())) {
            waitingAdoptions.put(adopt.runId(), adopt);
            LOG.infof("run %s needs an owner; this agent has no free slot yet", adopt.runId());
            return;
        }
        waitingAdoptions.remove(adopt.runId());
        RunLifecycle claim = RunLifecycle.of(adopt.runId(), adopt.queue()).withAgent(agent.id(), adopt.attempt())
                .withTarget(adopt.targetType(), adopt.handle()).withItem(adopt.itemId())
                .withReason("adopted by agent " + agent.id() + (adopt.reason() == null ? "" : ": " + adopt.reason()));
        boolean won = answered;
        try {
            if (answered) {
                LOG.infof("run %s: this agent's adoption of it held", adopt.runId());
            } else {
                var record = events.send(Topics.RUN_COMMANDS, adopt.runId(),
                        EventEnvelope.of(EventTypes.RUN_ADOPTED, adopt.runId(), claim)).get(30, TimeUnit.SECONDS);
                reader.fence(new TopicPartition(record.topic(), record.partition()), record.offset())
                        .get(30, TimeUnit.SECONDS);
                won = agent.id().equals(reader.ledger().owner(adopt.runId(), adopt.itemId()))
                        && reader.ledger().openAdoption(adopt.runId()) == null;
            }
        } catch (Exception e) {
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            LOG.warnf("could not record the adoption of run %s (%s); it stays open, tried again in a second",
                    adopt.runId(), e.toString());
            won = false;
            if (!shuttingDown) {
                // not a minute's wait for the status service to ask again: the work runs unwatched meanwhile
                flusher.schedule(() -> offerAdoption(adopt), 1, TimeUnit.SECONDS);
            }
        }
        if (!won) {
            if (slot) {
                slots.release();
            } else if (!agent.id().equals(reader.ledger().owner(adopt.runId(), adopt.itemId()))) {
                LOG.infof("run %s was adopted by another agent; no longer watching it here", adopt.runId());
                mine.target.detach(mine.handle);
                release(mine);
            }
            return;
        }
        if (!slot) {
            return; // this agent held it all along and still does
        }
        if (adopt.request() != null) {
            traces.of(adopt.request()); // the RunAdopted and what follows in the run's trace
        }
        events.run(EventTypes.RUN_ADOPTED, claim);
        LOG.infof("run %s: adopted %s (attempt %d) from %s", adopt.runId(), adopt.handle(), adopt.attempt(),
                adopt.fromAgent());
        metrics.counter("launch_agent_runs_adopted_total", "queue", adopt.queue()).increment();
        RunRequest request = adopt.request() != null ? withMacrosExpanded(adopt.request()) : null;
        if (request == null) {
            LOG.errorf("AdoptRun of run %s carries no request; cannot watch it", adopt.runId());
            slots.release();
            return;
        }
        startFlusher();
        Held h = new Held(request, slots::release);
        h.target = target;
        h.handle = adopt.handle();
        LogShipper logs = new LogShipper(events, request.runId(), adopt.attempt(), agent.id(), config.logBatchLines(),
                config.logFlushInterval());
        Reporter reporter = new Reporter(h, RunLifecycle.of(request.runId(), request.queue())
                .withAgent(agent.id(), adopt.attempt()).withTarget(target.type(), adopt.handle()), logs, adopt.itemId());
        h.reporter = reporter;
        held.put(request.runId(), h);
        workers.execute(RunLog.propagating(() -> {
            Span span = traces.begin("attach " + target.type(), SpanKind.CLIENT, request, agent.id());
            try (Scope current = span.makeCurrent()) {
                target.attach(request, adopt.handle(), adopt.logPosition() == null ? -1 : adopt.logPosition(),
                        reporter.inRun());
            } catch (RuntimeException e) {
                LOG.errorf(e, "watching adopted run %s failed", request.runId());
                span.recordException(e).setStatus(StatusCode.ERROR, "the agent failed while taking over the run");
                reporter.failed(FailureStage.AGENT.wire(), "the agent failed while taking over the run: " + e, null);
            } finally {
                span.end();
            }
        }));
    }

    public List<String> heldRuns() {
        return List.copyOf(held.keySet());
    }

    /**
     * Agent shutdown: launch nothing more; stop the runs whose work dies with the agent (each reported FAILED in
     * stage {@code agent}); leave adoptable work running, its output shipped so far, for another agent to adopt.
     */
    public void stopAll(Duration within) {
        shuttingDown = true;
        adoptions.shutdownNow();
        for (Target t : targets.values()) {
            if (!t.adoptable()) {
                t.shutdown(within);
            }
        }
        for (Held h : held.values()) {
            if (h.target != null && h.target.adoptable() && h.reporter != null) {
                try {
                    h.reporter.logs.flush().get(5, TimeUnit.SECONDS);
                } catch (Exception e) {
                    LOG.debugf("output of run %s not all shipped: %s", h.request.runId(), e.toString());
                }
                RunLog.infof(LOG, h.request.runId(), h.request.queue(), agent.id(),
                        "leaving run %s (%s) running for another agent of queue %s to adopt", h.request.runId(),
                        h.handle, h.request.queue());
            }
        }
        for (Target t : targets.values()) {
            if (t.adoptable()) {
                t.shutdown(within);
            }
        }
        workers.shutdown();
        try {
            workers.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        flusher.shutdownNow();
    }

    private synchronized void startFlusher() {
        if (!flusherStarted) {
            flusherStarted = true;
            long every = Math.max(10, config.logFlushInterval().toMillis() / 2);
            flusher.scheduleWithFixedDelay(() -> held.values().forEach(h -> {
                Reporter r = h.reporter;
                if (r != null) {
                    r.logs.flushIfDue();
                }
            }), every, every, TimeUnit.MILLISECONDS);
        }
    }

    /** The run's slot and place are given up (its end was reported, or nothing more will be). */
    private void release(Held h) {
        if (!h.released.compareAndSet(false, true)) {
            return;
        }
        ScheduledFuture<?> deadline = h.startDeadline;
        if (deadline != null) {
            deadline.cancel(false);
        }
        held.remove(h.request.runId(), h);
        h.done.run();
        synchronized (ended) {
            ended.notifyAll();
        }
        waitingAdoptions.values().forEach(this::offerAdoption);
    }

    /**
     * Publishes how a run ended after its logs, retrying while Kafka is away (for two minutes, or ten seconds
     * once the agent is shutting down), so a broker blip does not leave the run unfinished in the read model.
     */
    private void report(String type, RunLifecycle fact, LogShipper logs) {
        if (logs != null) {
            try {
                logs.flush().get(30, TimeUnit.SECONDS);
            } catch (Exception e) {
                LOG.warnf("some output of run %s was not shipped: %s", fact.runId(), e.toString());
            }
        }
        long deadline = System.nanoTime() + (shuttingDown ? Duration.ofSeconds(10) : Duration.ofMinutes(2)).toNanos();
        while (true) {
            try {
                events.run(type, fact).get(30, TimeUnit.SECONDS);
                return;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                LOG.errorf("interrupted while reporting %s for run %s", type, fact.runId());
                return;
            } catch (Exception e) {
                if (System.nanoTime() > deadline) {
                    LOG.errorf("could not report %s for run %s: %s", type, fact.runId(), e.toString());
                    return;
                }
                LOG.warnf("reporting %s for run %s failed, retrying: %s", type, fact.runId(), e.toString());
                try {
                    Thread.sleep(1000);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
        }
    }

    /** Turns one attempt's observations into facts; the first final one is reported, the rest dropped. */
    private final class Reporter implements TargetObserver {
        private final Held h;
        final RunLifecycle base;
        final LogShipper logs;
        private final String item;
        private volatile boolean running;
        /** the target's last reason while starting (the scheduler's message ...), said when the start times out */
        private volatile String lastReason;
        private final AtomicBoolean ended = new AtomicBoolean();

        Reporter(Held h, RunLifecycle base, LogShipper logs, String item) {
            this.h = h;
            this.base = base;
            this.logs = logs;
            this.item = item;
        }

        /**
         * This reporter as the target sees it: every call in the run's log scope, whichever target thread makes
         * it (an engine's event stream, an informer, a process's waiter), so the lines it leads to name the run.
         */
        TargetObserver inRun() {
            Reporter r = this;
            String runId = base.runId();
            String queue = base.queue();
            String agentId = agent.id();
            return new TargetObserver() {
                @Override
                public boolean launching() {
                    try (RunLog.Scope ignored = RunLog.scope(runId, queue, agentId)) {
                        return r.launching();
                    }
                }

                @Override
                public void progressed(String reason) {
                    in(() -> r.progressed(reason));
                }

                @Override
                public void running() {
                    in(r::running);
                }

                @Override
                public void output(String stream, String line, long position) {
                    r.output(stream, line, position); // a line of the run's output, not a log line
                }

                @Override
                public void output(String stream, String source, String line, long position) {
                    r.output(stream, source, line, position);
                }

                @Override
                public void exited(int exitCode) {
                    in(() -> r.exited(exitCode));
                }

                @Override
                public void failed(String stage, String reason, Integer exitCode) {
                    in(() -> r.failed(stage, reason, exitCode));
                }

                @Override
                public void stopped(Integer exitCode) {
                    in(() -> r.stopped(exitCode));
                }

                @Override
                public void preempted(String reason) {
                    in(() -> r.preempted(reason));
                }

                private void in(Runnable call) {
                    try (RunLog.Scope ignored = RunLog.scope(runId, queue, agentId)) {
                        call.run();
                    }
                }
            };
        }

        @Override
        public boolean launching() {
            var reader = commands;
            if (reader == null) {
                return true; // no command reader (not started as an agent): nothing can hand the run back
            }
            try {
                var record = events.send(Topics.RUN_COMMANDS, base.runId(), EventEnvelope.of(EventTypes.RUN_LAUNCHING,
                                base.runId(), new RunTaken(base.runId(), base.queue(), item, agent.id(),
                                        base.targetHandle(), h.target != null && h.target.adoptable())))
                        .get(30, TimeUnit.SECONDS);
                reader.fence(new TopicPartition(record.topic(), record.partition()), record.offset())
                        .get(30, TimeUnit.SECONDS);
            } catch (Exception e) {
                if (e instanceof InterruptedException) {
                    Thread.currentThread().interrupt();
                }
                end(EventTypes.RUN_FAILED, base.withFailure(FailureStage.AGENT.wire(),
                        "the agent could not record the launch (" + e + "); nothing was started"));
                return false;
            }
            if (!reader.ledger().mayStart(base.runId(), item)) {
                ended.set(true);
                LOG.infof("run %s was handed back to its queue before it started here; not starting it",
                        base.runId());
                release(h);
                return false;
            }
            CrashPoints.at("before-start");
            return true;
        }

        @Override
        public void progressed(String reason) {
            lastReason = reason;
            if (!ended.get()) {
                events.run(EventTypes.RUN_PROGRESSED, base.withReason(reason));
            }
        }

        @Override
        public synchronized void running() {
            if (ended.get() || running) {
                return; // timed out while starting (being stopped), or said already
            }
            running = true;
            events.run(EventTypes.RUN_RUNNING, base);
            CrashPoints.at("after-start");
        }

        /** The start timeout passed: unless the run is RUNNING by now, stop it and fail it in stage target. */
        void startTimedOut(String timeout) {
            synchronized (this) {
                if (running || !ended.compareAndSet(false, true)) {
                    return;
                }
            }
            LOG.infof("run %s did not start within %s; stopping it", base.runId(), timeout);
            if (h.target != null) {
                h.target.stop(h.handle);
            }
            try {
                report(EventTypes.RUN_FAILED, base.withFailure(FailureStage.TARGET.wire(), "the run did not start "
                        + "within " + timeout + " (the queue's startTimeout)" + (lastReason == null ? ""
                        : ": " + lastReason) + "; it was stopped"), logs);
            } finally {
                release(h);
            }
        }

        /** Reports a final fact once; a target's report after a start timeout is dropped. */
        private void end(String type, RunLifecycle fact) {
            if (ended.compareAndSet(false, true)) {
                try {
                    report(type, fact, logs);
                } finally {
                    release(h);
                }
            } else {
                LOG.debugf("run %s already ended; not reporting %s", fact.runId(), type);
            }
        }

        @Override
        public void output(String stream, String line, long position) {
            logs.add(stream, null, line, position);
        }

        @Override
        public void output(String stream, String source, String line, long position) {
            logs.add(stream, source, line, position);
        }

        @Override
        public void exited(int exitCode) {
            if (exitCode == 0) {
                end(EventTypes.RUN_FINISHED, base.withExit(0));
            } else if (shuttingDown) {
                end(EventTypes.RUN_FAILED, base.withExit(exitCode).withFailure(FailureStage.AGENT.wire(),
                        "the agent shut down while the run was running"));
            } else {
                end(EventTypes.RUN_FAILED, base.withExit(exitCode).withFailure(FailureStage.RUN.wire(),
                        "the process exited with code " + exitCode));
            }
        }

        @Override
        public void stopped(Integer exitCode) {
            if (shuttingDown) {
                end(EventTypes.RUN_FAILED, base.withExit(exitCode).withFailure(FailureStage.AGENT.wire(),
                        "the agent shut down while the run was running"));
            } else {
                end(EventTypes.RUN_STOPPED, base.withExit(exitCode).withReason("stopped on request"));
            }
        }

        @Override
        public void failed(String stage, String reason, Integer exitCode) {
            end(EventTypes.RUN_FAILED, base.withExit(exitCode).withFailure(stage, reason));
        }

        @Override
        public void preempted(String reason) {
            end(EventTypes.RUN_PREEMPTED, base.withReason(reason));
        }
    }
}
