package dev.launch.agent.dispatch;

import dev.launch.agent.config.AgentConfig;
import dev.launch.agent.config.AgentIdentity;
import dev.launch.agent.messaging.EventPublisher;
import dev.launch.agent.runner.LocalProcessRunner;
import dev.launch.agent.runner.LogShipper;
import dev.launch.agent.runner.NoopRunner;
import dev.launch.agent.runner.RunReporter;
import dev.launch.agent.runner.Runner;
import dev.launch.common.event.EventTypes;
import dev.launch.common.event.RunLifecycle;
import dev.launch.common.event.RunRequest;
import dev.launch.common.run.FailureStage;
import dev.launch.common.template.ConfigTemplate;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.micrometer.core.instrument.MeterRegistry;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.jboss.logging.Logger;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Owns the runs this agent has launched: runs each on its target's runner in a thread of its own, turns
 * what the runner reports into run facts and log batches, and stops runs on request.
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
    LocalProcessRunner localProcess;
    @Inject
    NoopRunner noop;
    @Inject
    MeterRegistry metrics;

    private final Map<String, RunRequest> held = new ConcurrentHashMap<>();
    private final Object ended = new Object();
    private volatile dev.launch.common.run.RunCommandsReader commands;
    /** items this agent process has launched (run id + item id), the most recent 100,000 */
    private final Map<String, Boolean> launched = java.util.Collections.synchronizedMap(
            new java.util.LinkedHashMap<>(1024, 0.75f, false) {
                @Override
                protected boolean removeEldestEntry(Map.Entry<String, Boolean> eldest) {
                    return size() > 100_000;
                }
            });
    private final ExecutorService workers = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "run-worker");
        t.setDaemon(true);
        return t;
    });
    private final ScheduledExecutorService flusher = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "log-flusher");
        t.setDaemon(true);
        return t;
    });
    private final Map<String, LogShipper> shippers = new ConcurrentHashMap<>();
    private volatile boolean flusherStarted;

    private Runner runnerFor(RunRequest request) {
        String type = request.target().path("type").asText();
        if (localProcess.targetType().equals(type)) {
            return localProcess;
        }
        return noop.targetType().equals(type) ? noop : null;
    }

    /** Launches a claimed run; {@code done} runs once it has ended and its end is reported. */
    public synchronized void launch(RunRequest claimed, Runnable done) {
        RunRequest request = withMacrosExpanded(claimed);
        if (shuttingDown) {
            events.run(EventTypes.RUN_FAILED, RunLifecycle.of(request.runId(), request.queue())
                    .withAgent(agent.id(), request.attempt()).withFailure(FailureStage.AGENT.wire(),
                            "the agent shut down before it could launch the run"));
            done.run();
            return;
        }
        startFlusher();
        held.put(request.runId(), request);
        metrics.counter("launch_agent_runs_launched_total", "queue", request.queue()).increment();
        workers.execute(() -> {
            java.util.concurrent.ScheduledFuture<?> startDeadline = null;
            RunLifecycle base = RunLifecycle.of(request.runId(), request.queue())
                    .withAgent(agent.id(), request.attempt());
            LogShipper logs = new LogShipper(events, request.runId(), request.attempt(), agent.id(),
                    config.logBatchLines(), config.logFlushInterval());
            shippers.put(request.runId(), logs);
            try {
                Runner runner = runnerFor(request);
                if (runner == null) {
                    report(EventTypes.RUN_FAILED, base.withFailure(FailureStage.AGENT.wire(), "this agent has no runner for "
                            + "target " + request.target().path("type").asText()), null);
                    return;
                }
                Reporter reporter = new Reporter(base.withTarget(runner.targetType(), null), logs, request.item());
                startDeadline = scheduleStartTimeout(request, runner, reporter);
                runner.launch(request, reporter);
            } catch (RuntimeException e) {
                LOG.errorf(e, "run %s failed inside the agent", request.runId());
                report(EventTypes.RUN_FAILED, base.withFailure(FailureStage.AGENT.wire(),
                        "the agent failed while running it: " + e), logs);
            } finally {
                if (startDeadline != null) {
                    startDeadline.cancel(false);
                }
                shippers.remove(request.runId());
                held.remove(request.runId());
                done.run();
                synchronized (ended) {
                    ended.notifyAll();
                }
            }
        });
    }

    /**
     * With a start timeout: if the run has not reached RUNNING by then, it is stopped and FAILED in stage
     * {@code target} ("did not start within ..."); what the runner reports after that is ignored.
     */
    private java.util.concurrent.ScheduledFuture<?> scheduleStartTimeout(RunRequest request, Runner runner,
                                                                         Reporter reporter) {
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
        startFlusher();
        return flusher.schedule(() -> workers.execute(() -> reporter.startTimedOut(runner, request.runId(),
                request.startTimeout())), timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** The target config with {@code ${run_id}}, {@code ${queue}}, {@code ${job}} ... filled in. */
    static RunRequest withMacrosExpanded(RunRequest r) {
        JsonNode config = r.target().get("config");
        if (config == null) {
            return r;
        }
        ObjectNode target = r.target().deepCopy();
        target.set("config", ConfigTemplate.expandMacros(config, Map.of("run_id", r.runId(), "queue", r.queue(),
                "job", r.job(), "job_version", String.valueOf(r.jobVersion()), "attempt", String.valueOf(r.attempt()))));
        return new RunRequest(r.runId(), r.queue(), r.job(), r.jobVersion(), r.jobDigest(), r.source(), r.command(),
                r.inputs(), target, r.attempt(), r.maxAttempts(), r.priority(), r.enqueuedAt(), r.itemId(),
                r.startTimeout());
    }

    /** The agent's reader of launch.run-commands, which launch records are checked against. */
    public void useCommands(dev.launch.common.run.RunCommandsReader reader) {
        this.commands = reader;
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
        RunRequest request = held.get(runId);
        if (request == null) {
            return;
        }
        LOG.infof("stopping run %s: %s", runId, reason);
        events.run(EventTypes.RUN_STOPPING, RunLifecycle.of(runId, request.queue())
                .withAgent(agent.id(), request.attempt()).withReason(reason));
        Runner runner = runnerFor(request);
        if (runner != null) {
            runner.stop(runId);
        }
    }

    /**
     * The run was queued again as a new attempt ({@code MoveRun} with an attempt: this agent was judged lost
     * while it held {@code itemId}); if this agent still runs that item, it ends it. What it reports about the
     * old attempt afterwards is ignored by the status service.
     */
    public void abandon(String runId, String itemId, int newAttempt) {
        RunRequest request = held.get(runId);
        if (request == null || !request.item().equals(itemId)) {
            return;
        }
        LOG.warnf("run %s was retried as attempt %d while this agent still held attempt %d; ending it", runId,
                newAttempt, request.attempt());
        Runner runner = runnerFor(request);
        if (runner != null) {
            runner.stop(runId);
        }
    }

    public List<String> heldRuns() {
        return List.copyOf(held.keySet());
    }

    /** Agent shutdown: launch nothing more, stop every run, report each as failed by the agent. */
    public void stopAll(Duration within) {
        synchronized (this) {
            shuttingDown = true;
        }
        localProcess.stopAll(within);
        workers.shutdown();
        try {
            workers.awaitTermination(within.toMillis() + 5000, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        flusher.shutdownNow();
    }

    private volatile boolean shuttingDown;

    private synchronized void startFlusher() {
        if (!flusherStarted) {
            flusherStarted = true;
            long every = Math.max(10, config.logFlushInterval().toMillis() / 2);
            flusher.scheduleWithFixedDelay(() -> shippers.values().forEach(LogShipper::flushIfDue), every, every,
                    TimeUnit.MILLISECONDS);
        }
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

    private final class Reporter implements RunReporter {
        private final RunLifecycle base;
        private final LogShipper logs;
        private final String item;
        private volatile boolean running;
        private final java.util.concurrent.atomic.AtomicBoolean ended = new java.util.concurrent.atomic.AtomicBoolean();

        Reporter(RunLifecycle base, LogShipper logs, String item) {
            this.base = base;
            this.logs = logs;
            this.item = item;
        }

        @Override
        public boolean launching() {
            var reader = commands;
            if (reader == null) {
                return true; // no command reader (not started as an agent): nothing can hand the run back
            }
            try {
                var record = events.send(dev.launch.common.event.Topics.RUN_COMMANDS, base.runId(),
                        dev.launch.common.event.EventEnvelope.of(EventTypes.RUN_LAUNCHING, base.runId(),
                                new dev.launch.common.event.RunTaken(base.runId(), base.queue(), item, agent.id())))
                        .get(30, TimeUnit.SECONDS);
                reader.fence(new org.apache.kafka.common.TopicPartition(record.topic(), record.partition()),
                        record.offset()).get(30, TimeUnit.SECONDS);
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
                return false;
            }
            CrashPoints.at("before-start");
            return true;
        }

        @Override
        public void starting() {
            events.run(EventTypes.RUN_STARTING, base);
        }

        @Override
        public synchronized void running(String handle) {
            if (ended.get()) {
                return; // timed out while starting: being stopped
            }
            running = true;
            events.run(EventTypes.RUN_RUNNING, base.withTarget(base.targetType(), handle));
            CrashPoints.at("after-start");
        }

        /** The start timeout passed: unless the run is RUNNING by now, stop it and fail it in stage target. */
        void startTimedOut(Runner runner, String runId, String timeout) {
            synchronized (this) {
                if (running || !ended.compareAndSet(false, true)) {
                    return;
                }
            }
            LOG.infof("run %s did not start within %s; stopping it", runId, timeout);
            runner.stop(runId);
            report(EventTypes.RUN_FAILED, base.withFailure(FailureStage.TARGET.wire(), "the run did not start within "
                    + timeout + " (the queue's startTimeout); it was stopped"), logs);
        }

        /** Reports a final fact once; a runner's report after a start timeout is dropped. */
        private void end(String type, RunLifecycle fact) {
            if (ended.compareAndSet(false, true)) {
                report(type, fact, logs);
            } else {
                LOG.debugf("run %s already ended; not reporting %s", fact.runId(), type);
            }
        }

        @Override
        public void output(String stream, String line) {
            logs.add(stream, line);
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
    }
}
