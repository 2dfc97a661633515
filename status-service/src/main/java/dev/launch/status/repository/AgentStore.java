package dev.launch.status.repository;

import dev.launch.common.event.AgentStatus;
import io.smallrye.mutiny.Uni;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Row;
import io.vertx.mutiny.sqlclient.Tuple;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;

/**
 * The last word of every agent. Later heartbeats win; a stopped agent stays stopped until it starts again (a
 * record with a later start time is a new incarnation of the same id).
 */
@ApplicationScoped
public class AgentStore {
    @Inject
    Pool pool;

    public Uni<Void> record(AgentStatus status, java.time.Instant at, boolean stopped) {
        return pool.preparedQuery("INSERT INTO agent (agent_id, queues, max_jobs, runs, host, pid, heartbeat_interval_ms, "
                        + "started_at, last_heartbeat, stopped) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
                        + "ON CONFLICT (agent_id) DO UPDATE SET queues = EXCLUDED.queues, max_jobs = EXCLUDED.max_jobs, "
                        + "runs = EXCLUDED.runs, host = EXCLUDED.host, pid = EXCLUDED.pid, "
                        + "heartbeat_interval_ms = EXCLUDED.heartbeat_interval_ms, started_at = EXCLUDED.started_at, "
                        + "last_heartbeat = EXCLUDED.last_heartbeat, "
                        // a new incarnation (started later) is not stopped by its predecessor's goodbye
                        + "stopped = CASE WHEN EXCLUDED.started_at > agent.started_at THEN EXCLUDED.stopped "
                        + "ELSE agent.stopped OR EXCLUDED.stopped END "
                        + "WHERE EXCLUDED.started_at > agent.started_at OR (EXCLUDED.started_at = agent.started_at "
                        + "AND (agent.last_heartbeat <= EXCLUDED.last_heartbeat OR EXCLUDED.stopped))")
                .execute(Tuple.tuple().addString(status.agentId()).addString(String.join(",", status.queues()))
                        .addInteger(status.maxJobs()).addString(String.join(",", status.runs()))
                        .addString(status.host()).addLong(status.pid()).addLong(status.heartbeatIntervalMs())
                        .addOffsetDateTime(status.startedAt().atOffset(ZoneOffset.UTC))
                        .addOffsetDateTime(at.atOffset(ZoneOffset.UTC)).addBoolean(stopped))
                .replaceWithVoid();
    }

    /** A stored agent. */
    public record AgentRow(String agentId, List<String> queues, int maxJobs, List<String> runs, String host, long pid,
                           long heartbeatIntervalMs, OffsetDateTime startedAt, OffsetDateTime lastHeartbeat,
                           boolean stopped) {
    }

    public Uni<List<AgentRow>> all() {
        return pool.query("SELECT * FROM agent ORDER BY agent_id").execute().map(rows -> {
            List<AgentRow> out = new ArrayList<>();
            for (Row r : rows) {
                out.add(new AgentRow(r.getString("agent_id"), split(r.getString("queues")), r.getInteger("max_jobs"),
                        split(r.getString("runs")), r.getString("host"), r.getLong("pid"),
                        r.getLong("heartbeat_interval_ms"), r.getOffsetDateTime("started_at"),
                        r.getOffsetDateTime("last_heartbeat"), r.getBoolean("stopped")));
            }
            return out;
        });
    }

    private static List<String> split(String s) {
        return s == null || s.isEmpty() ? List.of() : List.of(s.split(","));
    }
}
