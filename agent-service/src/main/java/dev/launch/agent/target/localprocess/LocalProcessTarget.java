package dev.launch.agent.target.localprocess;

import dev.launch.agent.config.AgentConfig;
import dev.launch.agent.target.Target;
import dev.launch.agent.target.TargetObserver;
import dev.launch.agent.target.RunEnvironment;
import dev.launch.agent.target.Workspaces;
import dev.launch.common.event.RunRequest;
import dev.launch.common.run.FailureStage;
import jakarta.annotation.PreDestroy;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.jboss.logging.Logger;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

/**
 * The {@code local-process} target: the code is copied (code source) or cloned at its pinned commit (git source)
 * into the attempt's own workspace, and the process starts there in a session of its own, so stopping it
 * (SIGTERM, then SIGKILL after the grace period) reaches its whole process tree. A local process dies with its
 * agent (the agent's {@link ProcessWatchdog} ends it), so it is not adoptable: a lost agent's started runs are
 * retried or failed. Its pipes can only be read by threads of their own: one reader per stream and one waiter
 * per process.
 */
@ApplicationScoped
public class LocalProcessTarget implements Target {
    private static final Logger LOG = Logger.getLogger(LocalProcessTarget.class);
    private static final boolean HAS_SETSID = Files.isExecutable(Path.of("/usr/bin/setsid"));
    public static final String TYPE = "local-process";

    @Inject
    AgentConfig config;
    @Inject
    io.micrometer.core.instrument.MeterRegistry metrics;

    private final Map<String, Running> running = new ConcurrentHashMap<>();
    private volatile ProcessWatchdog watchdog;
    private final ScheduledExecutorService killer = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "process-killer");
        t.setDaemon(true);
        return t;
    });

    private static final class Running {
        volatile Process process;
        volatile boolean stopRequested;
        final Object ended = new Object();
        volatile boolean done;
    }

    @Override
    public String type() {
        return TYPE;
    }

    @Override
    public boolean adoptable() {
        return false;
    }

    @Override
    public void submit(RunRequest request, String handle, TargetObserver observer) {
        Running state = new Running();
        running.put(handle, state);
        boolean watching = false;
        try {
            Path workspace;
            try {
                workspace = Workspaces.prepare(config.workspace(), request.runId() + "-" + request.attempt(), request);
            } catch (IOException | RuntimeException e) {
                observer.failed(FailureStage.BUILD.wire(), "could not prepare the code: " + e.getMessage(), null);
                return;
            }
            if (state.stopRequested) {
                observer.stopped(null);
                return;
            }
            if (!observer.launching()) {
                return;
            }
            Process process;
            try {
                process = start(request, workspace);
            } catch (IOException e) {
                observer.failed(FailureStage.TARGET.wire(), "could not start " + request.command() + ": "
                        + e.getMessage(), null);
                return;
            }
            state.process = process;
            if (HAS_SETSID) {
                watchdog().watch(process.pid());
            }
            if (state.stopRequested) {
                terminate(process);
            }
            observer.running();
            Thread waiter = new Thread(() -> watch(handle, state, process, observer), "run-wait-" + handle);
            waiter.setDaemon(true);
            waiter.start();
            watching = true;
        } finally {
            if (!watching) {
                end(handle, state);
            }
        }
    }

    /** Pumps the output and waits for the exit, on the process's own thread. */
    private void watch(String handle, Running state, Process process, TargetObserver observer) {
        try {
            AtomicLong position = new AtomicLong();
            Thread out = pump(process.getInputStream(), "stdout", observer, handle, position);
            Thread err = pump(process.getErrorStream(), "stderr", observer, handle, position);
            int exit = waitFor(process);
            join(out);
            join(err);
            if (state.stopRequested) {
                observer.stopped(exit);
            } else {
                observer.exited(exit);
            }
        } finally {
            if (HAS_SETSID && !process.isAlive()) {
                watchdog().forget(process.pid());
            }
            end(handle, state);
        }
    }

    private void end(String handle, Running state) {
        running.remove(handle, state);
        synchronized (state.ended) {
            state.done = true;
            state.ended.notifyAll();
        }
    }

    /** Started with the first run: it ends this agent's processes if the agent dies without stopping them. */
    private ProcessWatchdog watchdog() {
        ProcessWatchdog w = watchdog;
        if (w == null) {
            synchronized (this) {
                if (watchdog == null) {
                    watchdog = ProcessWatchdog.start(config.workspace().toAbsolutePath(), agentId(),
                            config.stopGrace());
                }
                w = watchdog;
            }
        }
        return w;
    }

    private String agentId() {
        return config.id().filter(s -> !s.isBlank()).orElse("agent-" + ProcessHandle.current().pid());
    }

    private Process start(RunRequest request, Path workspace) throws IOException {
        String program = request.command().isEmpty() ? null : request.command().get(0);
        if (program == null || !isRunnable(program, workspace)) {
            throw new IOException(program == null ? "the command is empty"
                    : "no executable '" + program + "' (looked in the workspace and on PATH)");
        }
        List<String> command = new ArrayList<>();
        if (HAS_SETSID) {
            command.add("/usr/bin/setsid");
        }
        command.addAll(request.command());
        ProcessBuilder builder = new ProcessBuilder(command).directory(workspace.toFile());
        Map<String, String> env = builder.environment();
        env.putAll(RunEnvironment.of(request));
        env.put("LAUNCH_WORKSPACE", workspace.toString());
        builder.redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        long started = System.nanoTime();
        boolean failed = true;
        try {
            Process process = builder.start();
            failed = false;
            return process;
        } finally {
            calls().record("start", started, failed);
        }
    }

    private volatile dev.launch.agent.target.TargetCalls calls;

    /** The target's calls: the operating system's process starts. */
    private dev.launch.agent.target.TargetCalls calls() {
        dev.launch.agent.target.TargetCalls c = calls;
        if (c == null) {
            c = metrics == null ? dev.launch.agent.target.TargetCalls.none(TYPE)
                    : new dev.launch.agent.target.TargetCalls(metrics, TYPE);
            calls = c;
        }
        return c;
    }

    /** Checked here because setsid would exec it and turn "not found" into the run's own exit code 127. */
    private static boolean isRunnable(String program, Path workspace) {
        if (program.contains("/")) {
            return Files.isExecutable(workspace.resolve(program));
        }
        String path = System.getenv().getOrDefault("PATH", "/usr/local/bin:/usr/bin:/bin");
        for (String dir : path.split(File.pathSeparator)) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, program))) {
                return true;
            }
        }
        return false;
    }

    /** Lines of both streams share one count, in the order they are read. */
    private static Thread pump(InputStream stream, String name, TargetObserver observer, String handle,
                               AtomicLong position) {
        Thread t = new Thread(() -> {
            try (BufferedReader reader = new BufferedReader(new InputStreamReader(stream, StandardCharsets.UTF_8))) {
                String line;
                while ((line = reader.readLine()) != null) {
                    synchronized (position) {
                        observer.output(name, line, position.getAndIncrement());
                    }
                }
            } catch (IOException e) {
                LOG.debugf("reading %s of %s ended: %s", name, handle, e.getMessage());
            }
        }, "run-" + name + "-" + handle);
        t.setDaemon(true);
        t.start();
        return t;
    }

    private static int waitFor(Process process) {
        while (true) {
            try {
                return process.waitFor();
            } catch (InterruptedException e) {
                // the agent only interrupts at shutdown, after stopping its runs: keep waiting for the exit code
                Thread.interrupted();
            }
        }
    }

    private static void join(Thread t) {
        try {
            t.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void stop(String handle) {
        Running state = running.get(handle);
        if (state == null) {
            return;
        }
        state.stopRequested = true;
        Process process = state.process;
        if (process != null) {
            terminate(process);
        }
    }

    /** SIGTERM to the process's session and every descendant; SIGKILL to what is left after the grace. */
    private void terminate(Process process) {
        List<ProcessHandle> tree = tree(process);
        signalGroup(process.pid(), "TERM");
        tree.forEach(ProcessHandle::destroy);
        killer.schedule(() -> {
            List<ProcessHandle> left = new ArrayList<>(tree);
            left.addAll(tree(process));
            signalGroup(process.pid(), "KILL");
            left.stream().filter(ProcessHandle::isAlive).forEach(ProcessHandle::destroyForcibly);
        }, config.stopGrace().toMillis(), TimeUnit.MILLISECONDS);
    }

    private static List<ProcessHandle> tree(Process process) {
        List<ProcessHandle> tree = new ArrayList<>();
        tree.add(process.toHandle());
        try (Stream<ProcessHandle> descendants = process.descendants()) {
            descendants.forEach(tree::add);
        }
        return tree;
    }

    private static void signalGroup(long pid, String signal) {
        if (!HAS_SETSID) {
            return;
        }
        try {
            new ProcessBuilder("kill", "-" + signal, "--", "-" + pid).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start().waitFor(5, TimeUnit.SECONDS);
        } catch (IOException e) {
            LOG.debugf("kill -%s -%d failed: %s", signal, pid, e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Stops every process, force-kills what is left at the deadline, and waits for their ends to be reported. */
    @Override
    public void shutdown(Duration within) {
        running.keySet().forEach(this::stop);
        long deadline = System.nanoTime() + within.toNanos();
        for (Running state : running.values()) {
            Process p = state.process;
            if (p == null) {
                continue;
            }
            try {
                long left = deadline - System.nanoTime();
                if (left <= 0 || !p.waitFor(left, TimeUnit.NANOSECONDS)) {
                    tree(p).forEach(ProcessHandle::destroyForcibly);
                    signalGroup(p.pid(), "KILL");
                }
                synchronized (state.ended) {
                    long wait = Math.max(1, (deadline - System.nanoTime()) / 1_000_000) + 5000;
                    if (!state.done) {
                        state.ended.wait(wait);
                    }
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    @PreDestroy
    void close() {
        killer.shutdownNow();
    }
}
