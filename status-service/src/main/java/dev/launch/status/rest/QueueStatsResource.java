package dev.launch.status.rest;

import dev.launch.common.naming.Names;
import dev.launch.status.repository.QueueIndex;
import dev.launch.status.service.AgentViews;
import io.smallrye.mutiny.Uni;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Tuple;
import jakarta.inject.Inject;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;

import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What the read model knows of one queue: runs per state, the oldest queued run and the agents serving it.
 * The queue service shows it in {@code GET /api/v1/queues/{name}}.
 */
@Path("/api/v1/queue-stats/{queue}")
@Produces(MediaType.APPLICATION_JSON)
public class QueueStatsResource {
    @Inject
    Pool pool;
    @Inject
    AgentViews agents;
    @Inject
    QueueIndex index;

    @Inject
    dev.launch.status.messaging.StopPublisher stops;

    /**
     * Stops every run of the queue that has not ended and has no stop requested yet (used when a queue is
     * deleted with force). 202 with how many were asked to stop.
     */
    @jakarta.ws.rs.POST
    @Path("/stop-all")
    public Uni<Map<String, Object>> stopAll(@PathParam("queue") String queue) {
        Names.require("queue", queue);
        return pool.preparedQuery("SELECT run_id FROM run WHERE queue = $1 AND state IN ('QUEUED', 'CLAIMED', "
                        + "'STARTING', 'RUNNING') AND NOT stop_requested").execute(Tuple.of(queue))
                .chain(rows -> {
                    java.util.List<String> ids = new java.util.ArrayList<>();
                    rows.forEach(r -> ids.add(r.getString("run_id")));
                    return io.smallrye.mutiny.Multi.createFrom().iterable(ids)
                            .onItem().transformToUniAndConcatenate(id -> stops.stop(id, queue,
                                    "stopped because queue '" + queue + "' is being deleted"))
                            .collect().asList()
                            .onFailure().transform(e -> dev.launch.common.problem.ProblemException.unavailable(
                                    "Kafka did not accept the stop requests; retry shortly.", 5))
                            .map(done -> Map.<String, Object>of("queue", queue, "stopRequested", ids.size()));
                });
    }

    @GET
    public Uni<Map<String, Object>> stats(@PathParam("queue") String queue) {
        Names.require("queue", queue);
        Uni<Instant> oldest = pool.preparedQuery("SELECT min(created_at) AS oldest FROM run WHERE queue = $1 "
                        + "AND state = 'QUEUED'").execute(Tuple.of(queue))
                .map(rows -> {
                    var at = rows.iterator().next().getOffsetDateTime("oldest");
                    return at == null ? null : at.toInstant();
                });
        return Uni.combine().all().unis(index.ready(), oldest, agents.serving(queue)).asTuple()
                .map(t -> describe(index, queue, t.getItem2(), t.getItem3()));
    }

    /** A queue's stats from the index (ready), its oldest queued run's creation and the agents serving it. */
    static Map<String, Object> describe(QueueIndex index, String queue, Instant oldest,
                                        List<AgentViews.AgentView> serving) {
        Map<String, Long> byState = index.states(queue);
        Map<String, Object> stats = new LinkedHashMap<>();
        stats.put("queue", queue);
        stats.put("queued", byState.getOrDefault("QUEUED", 0L));
        stats.put("running", byState.getOrDefault("CLAIMED", 0L) + byState.getOrDefault("STARTING", 0L)
                + byState.getOrDefault("RUNNING", 0L) + byState.getOrDefault("STOPPING", 0L));
        stats.put("states", byState);
        if (index.levelled(queue)) {
            // queued runs per level, highest first, every level listed
            long[] depth = index.queuedByRank(queue);
            Map<String, Long> levels = new LinkedHashMap<>();
            for (dev.launch.common.run.Priority level : dev.launch.common.run.Priority.values()) {
                levels.put(level.label(), depth[level.rank()]);
            }
            stats.put("queuedByPriority", levels);
        }
        if (oldest != null) {
            stats.put("oldestQueuedAt", oldest);
            stats.put("oldestQueuedAgeSeconds", Duration.between(oldest, Instant.now()).toSeconds());
        }
        stats.put("agents", serving.stream().map(AgentsResource::view).toList());
        return stats;
    }
}
