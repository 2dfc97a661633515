package dev.launch.devstack;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs git in a directory, for tests that need a real repository. */
public final class Git {
    private Git() {
    }

    /** A new repository in a temporary directory, on branch {@code main}, without commits. */
    public static Path newRepo(String prefix) throws IOException, InterruptedException {
        Path repo = java.nio.file.Files.createTempDirectory(prefix);
        run(repo, "init", "-q", "-b", "main");
        return repo;
    }

    /** Commits every change in {@code repo} and returns the new commit's hash. */
    public static String commitAll(Path repo, String message) throws IOException, InterruptedException {
        run(repo, "add", "-A");
        run(repo, "-c", "user.email=test@example.com", "-c", "user.name=test", "commit", "-q", "-m", message);
        return run(repo, "rev-parse", "HEAD").trim();
    }

    /** The output of {@code git -C dir args...}; fails unless git exits 0 within 30 s. */
    public static String run(Path dir, String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of("git", "-C", dir.toString()));
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
            p.destroyForcibly();
            throw new IllegalStateException("git " + String.join(" ", args) + " failed: " + out);
        }
        return out;
    }
}
