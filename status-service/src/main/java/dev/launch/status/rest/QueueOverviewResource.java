package dev.launch.status.rest;

import com.fasterxml.jackson.databind.JsonNode;
import dev.launch.status.client.QueueServiceClient;
import dev.launch.status.repository.QueueIndex;
import dev.launch.status.service.AgentViews;
import io.smallrye.mutiny.Uni;
import io.vertx.mutiny.sqlclient.Pool;
import jakarta.inject.Inject;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;
import org.jboss.logging.Logger;

import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Every queue at a glance, as the dashboard's queues page shows it: the queues the queue service defines (target
 * type, priorities, lockdown) with what the read model knows of each (as {@code /queue-stats/{queue}}), and the
 * queues only runs still name (a queue since deleted). When the queue service cannot be asked, the queues the read
 * model knows are listed all the same and {@code queueService} says why the definitions are missing.
 */
@Path("/api/v1/queue-stats")
@Produces(MediaType.APPLICATION_JSON)
public class QueueOverviewResource {
    private static final Logger LOG = Logger.getLogger(QueueOverviewResource.class);

    @Inject
    Pool pool;
    @Inject
    AgentViews agents;
    @Inject
    QueueIndex index;
    @Inject
    QueueServiceClient queueService;

    @GET
    public Uni<Map<String, Object>> all() {
        Uni<Map<String, Instant>> oldest = pool.query("SELECT queue, min(created_at) AS oldest FROM run "
                + "WHERE state = 'QUEUED' GROUP BY queue").execute().map(rows -> {
                    Map<String, Instant> byQueue = new HashMap<>();
                    rows.forEach(r -> byQueue.put(r.getString("queue"), r.getOffsetDateTime("oldest").toInstant()));
                    return byQueue;
                });
        Uni<Object> defined = queueService.queues().map(list -> (Object) list).onFailure().recoverWithItem(e -> {
            LOG.debugf("queue overview without the queue service's definitions: %s", e.getMessage());
            return "unreachable: " + e.getMessage();
        });
        return Uni.combine().all().unis(index.ready(), oldest, agents.all(), defined).asTuple().map(t -> {
            Map<String, JsonNode> definitions = new TreeMap<>();
            if (t.getItem4() instanceof List<?> list) {
                for (Object item : list) {
                    JsonNode queue = (JsonNode) item;
                    definitions.put(queue.path("name").asText(), queue);
                }
            }
            TreeMap<String, Boolean> names = new TreeMap<>();
            definitions.keySet().forEach(name -> names.put(name, true));
            index.queueNames().forEach(name -> names.putIfAbsent(name, false));
            List<AgentViews.AgentView> all = t.getItem3();
            List<Map<String, Object>> items = new ArrayList<>();
            names.forEach((name, isDefined) -> {
                List<AgentViews.AgentView> serving = all.stream()
                        .filter(v -> v.isServing() && v.agent().queues().contains(name)).toList();
                Map<String, Object> stats = QueueStatsResource.describe(index, name, t.getItem2().get(name), serving);
                JsonNode definition = definitions.get(name);
                if (definition != null) {
                    stats.put("targetType", definition.path("target").path("type").asText(null));
                    stats.put("prioritization", definition.path("prioritization").asBoolean(false));
                    stats.put("lockdown", definition.path("lockdown").asBoolean(false));
                }
                if (t.getItem4() instanceof List) {
                    stats.put("defined", definition != null); // false: only runs name it (a queue since deleted)
                }
                items.add(stats);
            });
            Map<String, Object> overview = new LinkedHashMap<>();
            overview.put("items", items);
            overview.put("queueService", t.getItem4() instanceof String reason ? reason : "reachable");
            return overview;
        });
    }
}
