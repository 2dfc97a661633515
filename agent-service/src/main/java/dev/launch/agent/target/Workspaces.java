package dev.launch.agent.target;

import dev.launch.common.event.RunRequest;
import dev.launch.common.job.JobSource;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A run attempt's own writable copy of its job's code: the code snapshot copied, or the git repository cloned at
 * its pinned commit, into {@code <root>/<name>}. Local processes run in it; containers get it as their working
 * directory.
 */
public final class Workspaces {
    private Workspaces() {
    }

    /** Makes {@code <root>/<name>} afresh with the code of {@code request}'s job. */
    public static Path prepare(Path root, String name, RunRequest request) throws IOException {
        Path workspace = root.toAbsolutePath().resolve(name);
        if (Files.exists(workspace)) {
            delete(workspace);
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
            default -> throw new IllegalArgumentException("there is no code to copy for a " + source.type() + " job");
        }
        return workspace;
    }

    public static void delete(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
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
}
