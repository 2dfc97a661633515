package dev.launch.agent.config;

import dev.launch.common.naming.Names;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

import java.net.InetAddress;
import java.time.Instant;
import java.util.List;

/** Who this agent is, fixed at start-up. */
@ApplicationScoped
public class AgentIdentity {
    private final String id;
    private final String host;
    private final Instant startedAt = Instant.now();
    private final List<String> queues;
    private final int maxJobs;
    private final String installation;

    @Inject
    public AgentIdentity(AgentConfig config) {
        this.host = hostName();
        this.id = config.id().filter(s -> !s.isBlank())
                .orElse("agent-" + host + "-" + ProcessHandle.current().pid());
        this.queues = config.queues().stream().map(String::trim).filter(s -> !s.isEmpty()).distinct().toList();
        if (queues.isEmpty()) {
            throw new IllegalArgumentException("launch.agent.queues is empty: name at least one queue to serve");
        }
        queues.forEach(q -> Names.require("launch.agent.queues", q));
        if (config.maxJobs() < 1) {
            throw new IllegalArgumentException("launch.agent.max-jobs must be at least 1");
        }
        this.maxJobs = config.maxJobs();
        this.installation = config.installation().filter(s -> !s.isBlank()).orElseGet(AgentIdentity::localInstallation);
    }

    /** The id kept in {@code .launch/installation} (local mode), made on first use. */
    private static String localInstallation() {
        java.nio.file.Path file = java.nio.file.Path.of(".launch", "installation");
        try {
            if (java.nio.file.Files.exists(file)) {
                String id = java.nio.file.Files.readString(file).strip();
                if (!id.isEmpty()) {
                    return id;
                }
            }
            java.nio.file.Files.createDirectories(file.getParent());
            String id = java.util.UUID.randomUUID().toString();
            java.nio.file.Path next = file.resolveSibling("installation.next");
            java.nio.file.Files.writeString(next, id + "\n");
            try {
                java.nio.file.Files.move(next, file, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            } catch (java.nio.file.FileAlreadyExistsException e) {
                java.nio.file.Files.deleteIfExists(next);
                return java.nio.file.Files.readString(file).strip();
            }
            return java.nio.file.Files.readString(file).strip();
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException("cannot read or write " + file.toAbsolutePath()
                    + "; set LAUNCH_INSTALLATION instead", e);
        }
    }

    /** The installation this agent's work is labelled with ({@code launch.installation}). */
    public String installation() {
        return installation;
    }

    private static String hostName() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (Exception e) {
            return "localhost";
        }
    }

    public String id() {
        return id;
    }

    public String host() {
        return host;
    }

    public Instant startedAt() {
        return startedAt;
    }

    public List<String> queues() {
        return queues;
    }

    public int maxJobs() {
        return maxJobs;
    }
}
