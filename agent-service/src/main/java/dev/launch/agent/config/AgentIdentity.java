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
