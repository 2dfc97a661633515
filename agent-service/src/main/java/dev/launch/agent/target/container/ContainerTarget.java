package dev.launch.agent.target.container;

import com.fasterxml.jackson.databind.JsonNode;
import dev.launch.agent.config.AgentConfig;
import dev.launch.agent.config.AgentIdentity;
import dev.launch.agent.target.RunEnvironment;
import dev.launch.agent.target.Target;
import dev.launch.agent.target.TargetObserver;
import dev.launch.agent.target.Workspaces;
import dev.launch.common.event.Events;
import dev.launch.common.event.RunRequest;
import dev.launch.common.job.JobSource;
import dev.launch.common.problem.Problem;
import dev.launch.common.run.FailureStage;
import dev.launch.targetconfig.ContainerOptions;
import jakarta.annotation.PreDestroy;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.jboss.logging.Logger;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The {@code local-container} target: each attempt is a container of the {@code docker}-compatible engine that
 * {@code LAUNCH_CONTAINER_ENGINE} names, called {@code launch-<runId>-<attempt>} and labelled with the run, queue,
 * attempt and installation. It outlives its agent, so it is adoptable. See DESIGN.md beside this class for how
 * engine states map to run states.
 *
 * <p>Threads are bounded whatever the number of containers: one reads the engine's event stream for all of this
 * installation's containers, one schedules, and a small pool makes the engine calls (create, start, inspect,
 * logs, stop, rm). Output is read by polling {@code logs --timestamps --since}: every second while a container
 * writes, backing off to every 8 s while it is quiet, and once more when it ends.
 */
@ApplicationScoped
public class ContainerTarget implements Target {
    private static final Logger LOG = Logger.getLogger(ContainerTarget.class);
    public static final String TYPE = "local-container";
    private static final long QUIET_POLL_MS = 8_000;

    @Inject
    AgentConfig config;
    @Inject
    io.micrometer.core.instrument.MeterRegistry metrics;
    @Inject
    AgentIdentity identity;

    private volatile ContainerEngine engine;
    private final Map<String, Watched> watched = new ConcurrentHashMap<>();
    private final ScheduledExecutorService scheduler = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "container-scheduler");
        t.setDaemon(true);
        return t;
    });
    private final ExecutorService calls = Executors.newFixedThreadPool(3, r -> {
        Thread t = new Thread(r, "container-calls");
        t.setDaemon(true);
        return t;
    });
    private volatile ContainerEvents events;
    /** stops asked for before the container was watched (while its code was prepared or it was created) */
    private final Set<String> stoppedEarly = ConcurrentHashMap.newKeySet();
    private volatile boolean started;

    /** One container this agent watches. */
    private static final class Watched {
        final String handle;
        final RunRequest request;
        final TargetObserver observer;
        final Path workspace;
        volatile boolean stopRequested;
        volatile boolean runningReported;
        volatile boolean ending;
        /** output lines at or before this position were shipped by an earlier owner */
        final long skipThrough;
        long nextPosition;
        /** the timestamp of the last line read, and how many lines of that timestamp were read */
        Instant lastLineAt;
        int readAtLast;
        long pollEveryMs = 1000;
        long nextPollAt;
        boolean polling;

        Watched(String handle, RunRequest request, TargetObserver observer, Path workspace, long skipThrough) {
            this.handle = handle;
            this.request = request;
            this.observer = observer;
            this.workspace = workspace;
            this.skipThrough = skipThrough;
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

    private synchronized void start() {
        if (started) {
            return;
        }
        started = true;
        engine = new ContainerEngine(config.container().engine(), new dev.launch.agent.target.TargetCalls(metrics,
                TYPE));
        events = new ContainerEvents(engine, identity.installation(), this::onEvent, this::resync);
        events.start();
        scheduler.scheduleWithFixedDelay(this::pollDue, 250, 250, TimeUnit.MILLISECONDS);
        scheduler.scheduleWithFixedDelay(this::resync, 15, 15, TimeUnit.SECONDS);
    }

    @Override
    public void submit(RunRequest request, String handle, TargetObserver observer) {
        start();
        JsonNode options = request.target().path("config");
        List<Problem.FieldError> refused = ContainerOptions.check(options.isMissingNode() ? null : options,
                allow(request));
        if (!refused.isEmpty()) {
            observer.failed(FailureStage.TARGET.wire(), "the queue's container options are refused: "
                    + refused.stream().map(e -> e.field() + ": " + e.message()).toList(), null);
            return;
        }
        Path workspace = null;
        String image;
        if (JobSource.IMAGE.equals(request.source().type())) {
            image = request.source().image();
        } else {
            image = config.container().baseImage();
            try {
                workspace = Workspaces.prepare(config.workspace(), handle, request);
            } catch (IOException | RuntimeException e) {
                observer.failed(FailureStage.BUILD.wire(), "could not prepare the code: " + e.getMessage(), null);
                return;
            }
        }
        List<String> create = createArgs(request, handle, image, options, workspace);
        Watched w = new Watched(handle, request, observer, workspace, -1);
        if (stoppedEarly.remove(handle)) {
            deleteWorkspace(w);
            observer.stopped(null);
            return;
        }
        if (!observer.launching()) {
            deleteWorkspace(w);
            return;
        }
        watched.put(handle, w);
        ContainerEngine.Result created = engine.run(create, 600);
        if (!created.ok()) {
            String why = created.complaint();
            if (why.contains("already in use") || why.contains("Conflict")) {
                LOG.infof("container %s exists already (the run's item was taken again); watching it", handle);
                watched.remove(handle);
                attach(request, handle, -1, observer);
                return;
            }
            watched.remove(handle);
            deleteWorkspace(w);
            observer.failed(FailureStage.TARGET.wire(), imageMissing(why)
                    ? "image " + image + " is not on this machine and the pull policy is '" + pullPolicy(options)
                    + "' (" + why + ")" : engine.name() + " could not create the container: " + why, null);
            return;
        }
        startContainer(w);
    }

    private void startContainer(Watched w) {
        if (stoppedEarly.remove(w.handle) || w.stopRequested) {
            finish(w, () -> w.observer.stopped(null)); // stopped before it started: never started
            return;
        }
        ContainerEngine.Result started = engine.run("start", w.handle);
        if (!started.ok()) {
            // the engine's own failure (e.g. no such executable in the image), not the container's exit code
            String why = started.complaint();
            finish(w, () -> w.observer.failed(FailureStage.TARGET.wire(), engine.name()
                    + " could not start the container: " + why, null));
            return;
        }
        reportRunning(w);
        schedulePoll(w, 1000);
    }

    private static boolean imageMissing(String why) {
        String s = why.toLowerCase();
        return s.contains("image not known") || s.contains("no such image") || s.contains("unable to find image")
                || s.contains("pull access denied") || s.contains("manifest unknown") || s.contains("not found");
    }

    private Set<String> allow(RunRequest request) {
        Set<String> allow = new HashSet<>();
        request.target().path("allow").forEach(a -> allow.add(a.asText()));
        return allow;
    }

    private String pullPolicy(JsonNode options) {
        return options.hasNonNull("pull") ? options.get("pull").asText() : config.container().pull();
    }

    private List<String> createArgs(RunRequest request, String handle, String image, JsonNode options, Path workspace) {
        List<String> args = new ArrayList<>(List.of("create", "--name", handle,
                "--label", "launch.run-id=" + request.runId(),
                "--label", "launch.queue=" + request.queue(),
                "--label", "launch.attempt=" + request.attempt(),
                "--label", "launch.installation=" + identity.installation()));
        RunEnvironment.of(request).forEach((k, v) -> {
            args.add("--env");
            args.add(k + "=" + v);
        });
        if (!options.hasNonNull("pull")) {
            args.add("--pull");
            args.add(config.container().pull());
        }
        args.addAll(ContainerOptions.flags(options.isMissingNode() ? null : options));
        if (workspace != null) {
            args.add("--volume");
            args.add(workspace + ":/workspace");
            args.add("--workdir");
            args.add("/workspace");
            args.add("--env");
            args.add("LAUNCH_WORKSPACE=/workspace");
        }
        List<String> command = request.command();
        if (!command.isEmpty()) {
            args.add("--entrypoint");
            args.add(command.get(0));
        }
        args.add(image);
        if (command.size() > 1) {
            args.addAll(command.subList(1, command.size()));
        }
        return args;
    }

    @Override
    public void attach(RunRequest request, String handle, long afterPosition, TargetObserver observer) {
        start();
        Map<String, JsonNode> states = inspect(List.of(handle));
        JsonNode state = states.get(handle);
        if (state == null) {
            observer.failed(FailureStage.TARGET.wire(), "container " + handle + " vanished from " + engine.name()
                    + " while no agent watched it; its end is unknown", null);
            return;
        }
        Path workspace = JobSource.IMAGE.equals(request.source().type()) ? null
                : config.workspace().toAbsolutePath().resolve(handle);
        Watched w = new Watched(handle, request, observer, workspace, afterPosition);
        watched.put(handle, w);
        String status = state.path("State").path("Status").asText();
        switch (status) {
            case "created", "configured" -> startContainer(w);
            case "running", "paused" -> {
                reportRunning(w);
                schedulePoll(w, 0);
            }
            default -> calls.execute(() -> complete(w));
        }
    }

    private void reportRunning(Watched w) {
        synchronized (w) {
            if (w.runningReported) {
                return;
            }
            w.runningReported = true;
        }
        w.observer.running();
    }

    @Override
    public void stop(String handle) {
        Watched w = watched.get(handle);
        if (w == null) {
            stoppedEarly.add(handle); // not created yet: it will not be started
            return;
        }
        w.stopRequested = true;
        calls.execute(() -> {
            long grace = Math.max(1, config.stopGrace().toSeconds());
            ContainerEngine.Result r = engine.run(List.of("stop", "-t", String.valueOf(grace), handle), grace + 60);
            if (!r.ok()) {
                LOG.warnf("%s stop %s failed: %s", engine.name(), handle, r.complaint());
                if (!w.runningReported) {
                    return; // not started yet: startContainer sees the stop and never starts it
                }
            }
            complete(w);
        });
    }

    @Override
    public void detach(String handle) {
        watched.remove(handle);
    }

    @Override
    public List<String> find(String queue) {
        start();
        ContainerEngine.Result r = engine.run("ps", "-a", "--filter", "label=launch.installation=" + identity.installation(),
                "--filter", "label=launch.queue=" + queue, "--format", "{{.Names}}");
        List<String> names = new ArrayList<>();
        if (r.ok()) {
            r.out().lines().map(String::strip).filter(s -> !s.isEmpty()).forEach(names::add);
        }
        return names;
    }

    /** An event of the engine's stream about one of this installation's containers. */
    private void onEvent(String name, String status) {
        Watched w = watched.get(name);
        if (w == null) {
            return;
        }
        switch (status) {
            case "start" -> reportRunning(w);
            case "died", "die", "stop", "kill" -> {
                if (!"kill".equals(status)) {
                    calls.execute(() -> complete(w));
                }
            }
            default -> {
            }
        }
    }

    /** Every watched container's state in one call: finds ends whose event was missed. */
    private void resync() {
        if (watched.isEmpty()) {
            return;
        }
        List<String> handles = new ArrayList<>(watched.keySet());
        Map<String, JsonNode> states = inspect(handles);
        for (String h : handles) {
            Watched w = watched.get(h);
            if (w == null) {
                continue;
            }
            JsonNode s = states.get(h);
            String status = s == null ? "gone" : s.path("State").path("Status").asText();
            if (s == null || "exited".equals(status) || "stopped".equals(status) || "dead".equals(status)) {
                calls.execute(() -> complete(w));
            } else if ("running".equals(status)) {
                reportRunning(w);
            }
        }
    }

    /** {@code inspect} of the containers that exist, by name. */
    private Map<String, JsonNode> inspect(List<String> handles) {
        List<String> args = new ArrayList<>(List.of("inspect", "--type", "container"));
        args.addAll(handles);
        ContainerEngine.Result r = engine.run(args, 60);
        Map<String, JsonNode> out = new ConcurrentHashMap<>();
        if (r.out().isBlank()) {
            return out;
        }
        try {
            for (JsonNode c : Events.MAPPER.readTree(r.out())) {
                String name = c.path("Name").asText().replaceFirst("^/", "");
                out.put(name, c);
            }
        } catch (IOException e) {
            LOG.warnf("cannot read %s inspect output: %s", engine.name(), e.getMessage());
        }
        return out;
    }

    /** The container ended (or is gone): the rest of its output, its outcome, then it is removed. */
    private void complete(Watched w) {
        synchronized (w) {
            if (w.ending || watched.get(w.handle) != w) {
                return;
            }
            w.ending = true;
        }
        JsonNode state = inspect(List.of(w.handle)).get(w.handle);
        if (state == null) {
            finish(w, () -> w.observer.failed(FailureStage.TARGET.wire(), "container " + w.handle + " vanished from "
                    + engine.name() + " before it ended; its outcome is unknown", null));
            return;
        }
        String status = state.path("State").path("Status").asText();
        if (!("exited".equals(status) || "stopped".equals(status) || "dead".equals(status))) {
            synchronized (w) {
                w.ending = false; // a stop event before the exit: the died event or the resync comes back
            }
            return;
        }
        synchronized (w) {
            readLogs(w);
        }
        int exit = state.path("State").path("ExitCode").asInt();
        boolean oom = state.path("State").path("OOMKilled").asBoolean(false);
        long memory = state.path("HostConfig").path("Memory").asLong(0);
        String error = state.path("State").path("Error").asText("");
        Runnable outcome;
        if (w.stopRequested) {
            outcome = () -> w.observer.stopped(exit);
        } else if (oom || (exit == 137 && memory > 0)) {
            outcome = () -> w.observer.failed(FailureStage.RUN.wire(), "killed, likely out of memory (exit 137 "
                    + "under a memory limit of " + memory / (1024 * 1024) + " MiB)", exit);
        } else if (exit != 0 && !error.isBlank()) {
            outcome = () -> w.observer.failed(FailureStage.TARGET.wire(), engine.name() + " could not run the "
                    + "container: " + error, exit);
        } else if (exit != 0) {
            outcome = () -> w.observer.failed(FailureStage.RUN.wire(), "the container exited with code " + exit, exit);
        } else {
            outcome = () -> w.observer.exited(0);
        }
        finish(w, outcome);
    }

    /** Reports the outcome, then removes the container and its workspace (Launch's, not the user's `rm`). */
    private void finish(Watched w, Runnable outcome) {
        try {
            outcome.run();
        } finally {
            if (watched.remove(w.handle, w)) {
                ContainerEngine.Result rm = engine.run("rm", "-f", w.handle);
                if (!rm.ok() && !rm.complaint().contains("no such container")) {
                    LOG.warnf("could not remove container %s: %s", w.handle, rm.complaint());
                }
                deleteWorkspace(w);
            }
        }
    }

    private void deleteWorkspace(Watched w) {
        if (w.workspace != null) {
            try {
                Workspaces.delete(w.workspace);
            } catch (IOException e) {
                LOG.debugf("could not delete %s: %s", w.workspace, e.getMessage());
            }
        }
    }

    private void schedulePoll(Watched w, long inMs) {
        synchronized (w) {
            w.nextPollAt = System.currentTimeMillis() + inMs;
        }
    }

    /** Reads the output of every container whose turn it is, on the call pool. */
    private void pollDue() {
        long now = System.currentTimeMillis();
        for (Watched w : watched.values()) {
            synchronized (w) {
                if (w.polling || w.ending || !w.runningReported || w.nextPollAt > now) {
                    continue;
                }
                w.polling = true;
            }
            calls.execute(() -> {
                synchronized (w) {
                    try {
                        boolean more = !w.ending && readLogs(w);
                        w.pollEveryMs = more ? 1000 : Math.min(QUIET_POLL_MS, w.pollEveryMs * 2);
                        w.nextPollAt = System.currentTimeMillis() + w.pollEveryMs;
                    } finally {
                        w.polling = false;
                    }
                }
            });
        }
    }

    /**
     * Output after the last line read. The engine stamps the lines of one read with one timestamp, so a line is
     * known by its timestamp and its place among the lines of that timestamp (stdout before stderr, each in its
     * order); its position is its index in the container's whole output in that order, so an adopter that reads
     * from the start numbers the lines as the first owner did. Call while holding {@code w}'s lock. True when new
     * lines came.
     */
    private boolean readLogs(Watched w) {
        List<String> args = new ArrayList<>(List.of("logs", "--timestamps"));
        if (w.lastLineAt != null) {
            // engines differ on whether --since includes its instant: ask from just before, skip what was read
            args.add("--since");
            args.add(w.lastLineAt.minusNanos(1).toString());
        }
        args.add(w.handle);
        ContainerEngine.Result r = engine.run(args, 60);
        if (!r.ok()) {
            return false; // the container is gone or the engine is away: the end is found by events or resync
        }
        List<LogLine> lines = new ArrayList<>();
        parse(r.out(), "stdout", lines);
        parse(r.err(), "stderr", lines);
        // stable: within one timestamp stdout first, then stderr, each in the engine's order
        lines.sort(java.util.Comparator.comparing(LogLine::at).thenComparing(l -> l.stream().equals("stderr")));
        boolean any = false;
        int sameAsLast = 0;
        for (LogLine l : lines) {
            if (w.lastLineAt != null && l.at().isBefore(w.lastLineAt)) {
                continue;
            }
            if (w.lastLineAt != null && l.at().equals(w.lastLineAt)) {
                if (sameAsLast++ < w.readAtLast) {
                    continue; // read before
                }
                w.readAtLast++;
            } else {
                w.lastLineAt = l.at();
                w.readAtLast = 1;
                sameAsLast = 1;
            }
            long position = w.nextPosition++;
            if (position > w.skipThrough) {
                w.observer.output(l.stream(), l.text(), position);
                any = true;
            }
        }
        return any;
    }

    private record LogLine(Instant at, String stream, String text) {
    }

    /** Lines of {@code logs --timestamps}: "<RFC 3339 timestamp> <text>"; others (the engine's own) are skipped. */
    private static void parse(String output, String stream, List<LogLine> into) {
        output.lines().forEach(line -> {
            int space = line.indexOf(' ');
            if (space < 20) {
                return;
            }
            try {
                into.add(new LogLine(Instant.parse(line.substring(0, space)), stream, line.substring(space + 1)));
            } catch (java.time.format.DateTimeParseException e) {
                // not a log line
            }
        });
    }

    @Override
    public void shutdown(Duration within) {
        // containers outlive the agent: another agent of the queue adopts them
        watched.clear();
        close();
    }

    @PreDestroy
    void close() {
        ContainerEvents e = events;
        if (e != null) {
            e.close();
        }
        scheduler.shutdownNow();
        calls.shutdown();
    }
}
