package dev.launch.agent.runner;

import dev.launch.agent.config.AgentConfig;
import dev.launch.common.event.RunRequest;
import dev.launch.common.job.JobSource;
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
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Runs a job as a local process: the code is copied (code source) or cloned at its pinned commit (git source)
 * into the run's own workspace, and the process starts there in a session of its own, so stopping it
 * (SIGTERM, then SIGKILL after the grace period) reaches its whole process tree.
 */
@ApplicationScoped
public class LocalProcessRunner implements Runner {
    private static final Logger LOG = Logger.getLogger(LocalProcessRunner.class);
    private static final boolean HAS_SETSID = Files.isExecutable(Path.of("/usr/bin/setsid"));

    @Inject
    AgentConfig config;

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
    }

    @Override
    public String targetType() {
        return "local-process";
    }

    @Override
    public void launch(RunRequest request, RunReporter reporter) {
        Running state = new Running();
        running.put(request.runId(), state);
        try {
            reporter.starting();
            Path workspace;
            try {
                workspace = prepareWorkspace(request);
            } catch (IOException | RuntimeException e) {
                reporter.failed(FailureStage.BUILD.wire(), "could not prepare the code: " + e.getMessage(), null);
                return;
            }
            if (state.stopRequested) {
                reporter.stopped(null);
                return;
            }
            if (!reporter.launching()) {
                return;
            }
            Process process;
            try {
                process = start(request, workspace);
            } catch (IOException e) {
                reporter.failed(FailureStage.TARGET.wire(), "could not start " + request.command() + ": "
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
            reporter.running("pid:" + process.pid());
            Thread out = pump(process.getInputStream(), "stdout", reporter, request.runId());
            Thread err = pump(process.getErrorStream(), "stderr", reporter, request.runId());
            int exit = waitFor(process);
            join(out);
            join(err);
            if (state.stopRequested) {
                reporter.stopped(exit);
            } else {
                reporter.exited(exit);
            }
        } finally {
            Running ended = running.remove(request.runId());
            if (HAS_SETSID && ended != null && ended.process != null && !ended.process.isAlive()) {
                watchdog().forget(ended.process.pid());
            }
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
        return config.id().orElse("agent-" + ProcessHandle.current().pid());
    }

    private Path prepareWorkspace(RunRequest request) throws IOException {
        Path workspace = config.workspace().toAbsolutePath().resolve(request.runId() + "-" + request.attempt());
        if (Files.exists(workspace)) {
            deleteTree(workspace);
        }
        Files.createDirectories(workspace);
        JobSource source = request.source();
        switch (source.type()) {
            case JobSource.CODE -> copyTree(Path.of(source.snapshot()), workspace);
            case JobSource.GIT -> {
                git(workspace.getParent(), "clone", "--quiet", "--no-checkout", "--", source.remote(),
                        workspace.toString());
                git(workspace, "checkout", "--quiet", "--detach", source.commit());
            }
            default -> throw new IllegalArgumentException("local processes cannot run " + source.type() + " sources");
        }
        return workspace;
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
        env.put("LAUNCH_RUN_ID", request.runId());
        env.put("LAUNCH_JOB", request.jobRef());
        env.put("LAUNCH_QUEUE", request.queue());
        env.put("LAUNCH_ATTEMPT", String.valueOf(request.attempt()));
        env.put("LAUNCH_INPUTS", request.inputs() == null ? "{}" : request.inputs().toString());
        env.put("LAUNCH_WORKSPACE", workspace.toString());
        builder.redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        return builder.start();
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

    private static Thread pump(InputStream stream, String name, RunReporter reporter, String runId) {
        Thread t = new Thread(() -> {
            try (BufferedReader reader = new BufferedReader(new InputStreamReader(stream, StandardCharsets.UTF_8))) {
                String line;
                while ((line = reader.readLine()) != null) {
                    reporter.output(name, line);
                }
            } catch (IOException e) {
                LOG.debugf("reading %s of run %s ended: %s", name, runId, e.getMessage());
            }
        }, "run-" + name + "-" + runId);
        t.setDaemon(true);
        t.start();
        return t;
    }

    private static int waitFor(Process process) {
        while (true) {
            try {
                return process.waitFor();
            } catch (InterruptedException e) {
                // the agent only interrupts at shutdown, after stopAll: keep waiting for the exit code
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
    public void stop(String runId) {
        Running state = running.get(runId);
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

    @Override
    public void stopAll(Duration within) {
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

    private static void git(Path dir, String... args) throws IOException {
        List<String> command = new ArrayList<>(List.of("git", "-C", dir.toString()));
        command.addAll(List.of(args));
        Process git = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        String output = new String(git.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        try {
            if (!git.waitFor(300, TimeUnit.SECONDS) || git.exitValue() != 0) {
                git.destroyForcibly();
                throw new IOException("git " + args[0] + " failed: " + output);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted during git " + args[0]);
        }
    }

    private static void copyTree(Path from, Path to) throws IOException {
        if (!Files.isDirectory(from)) {
            throw new IOException("the job's code snapshot " + from + " is missing on this machine");
        }
        try (Stream<Path> walk = Files.walk(from)) {
            for (Path p : (Iterable<Path>) walk::iterator) {
                Path target = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(target);
                } else {
                    Files.copy(p, target, StandardCopyOption.COPY_ATTRIBUTES, StandardCopyOption.REPLACE_EXISTING);
                }
            }
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
