package dev.launch.agent.target.container;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The {@code docker}-compatible command line ({@code docker}, or a drop-in such as {@code podman}), as
 * {@code LAUNCH_CONTAINER_ENGINE} names it (words split on spaces, so {@code "podman --runtime runc"} works).
 * Every call is a short-lived process; none is left behind.
 */
final class ContainerEngine {
    /** What a call printed and how it ended. */
    record Result(int exit, String out, String err) {
        boolean ok() {
            return exit == 0;
        }

        /** The engine's complaint, for a reason shown to users. */
        String complaint() {
            String text = (err.isBlank() ? out : err).strip();
            return text.startsWith("Error: ") ? text.substring(7) : text;
        }
    }

    private final List<String> command;
    private final dev.launch.agent.target.TargetCalls calls;

    ContainerEngine(String command, dev.launch.agent.target.TargetCalls calls) {
        this.command = List.of(command.trim().split("\\s+"));
        this.calls = calls;
    }

    String name() {
        return command.get(0);
    }

    List<String> command(List<String> args) {
        List<String> all = new ArrayList<>(command);
        all.addAll(args);
        return all;
    }

    /** One engine command, timed as the target's call of that subcommand ({@code run}, {@code inspect}, ...). */
    Result run(List<String> args, long timeoutSeconds) {
        long started = System.nanoTime();
        Result result = runUntimed(args, timeoutSeconds);
        calls.record(args.isEmpty() ? "(none)" : args.get(0), started, result.exit() != 0);
        return result;
    }

    private Result runUntimed(List<String> args, long timeoutSeconds) {
        Process p;
        File errors = null;
        try {
            // stderr to a file: reading both pipes would take a thread per call
            errors = File.createTempFile("launch-engine-", ".err");
            p = new ProcessBuilder(command(args)).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .redirectError(errors).start();
        } catch (IOException e) {
            if (errors != null) {
                errors.delete();
            }
            return new Result(-1, "", "cannot run " + name() + ": " + e.getMessage()
                    + " (set LAUNCH_CONTAINER_ENGINE to a docker-compatible command, e.g. podman)");
        }
        try {
            String out = read(p.getInputStream());
            if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return new Result(-1, out, name() + " " + args.get(0) + " did not answer within " + timeoutSeconds + " s");
            }
            return new Result(p.exitValue(), out, java.nio.file.Files.readString(errors.toPath()));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            p.destroyForcibly();
            return new Result(-1, "", "interrupted");
        } catch (IOException e) {
            return new Result(p.exitValue(), "", "");
        } finally {
            errors.delete();
        }
    }

    Result run(String... args) {
        return run(List.of(args), 120);
    }

    private static String read(java.io.InputStream in) {
        try (in) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }
}
