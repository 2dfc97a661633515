package dev.launch.queue.rest;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.launch.common.event.Events;
import dev.launch.common.event.QueueChanged;
import dev.launch.common.naming.Names;
import dev.launch.common.run.Priority;
import dev.launch.common.problem.ProblemException;
import dev.launch.queue.client.StatusClient;
import dev.launch.queue.repository.QueueEntity;
import dev.launch.queue.service.EnqueueService;
import dev.launch.queue.service.QueueService;
import dev.launch.queue.service.Targets;
import io.quarkus.hibernate.reactive.panache.common.WithSession;
import io.quarkus.panache.common.Parameters;
import io.quarkus.panache.common.Sort;
import io.smallrye.mutiny.Uni;
import jakarta.inject.Inject;
import jakarta.ws.rs.*;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;

import java.net.URI;
import java.util.List;
import java.util.Map;

/** Queues and enqueue (design §5). */
@Path("/api/v1/queues")
@Produces(MediaType.APPLICATION_JSON)
@Consumes(MediaType.APPLICATION_JSON)
public class QueueResource {
    private static final int MAX_LIMIT = 500;

    @Inject
    QueueService queues;
    @Inject
    EnqueueService enqueue;
    @Inject
    StatusClient status;

    @POST
    public Uni<Response> create(CreateQueueRequest request) {
        return queues.create(request).map(queue -> Response.created(URI.create("/api/v1/queues/" + queue.name()))
                .entity(view(queue)).build());
    }

    /**
     * Queues by name; page with {@code after} = the last name seen ({@code next}). Filters: {@code prefix}
     * (names starting with it), {@code targetType}, {@code prioritization} ({@code true}/{@code false}).
     */
    @GET
    @WithSession
    public Uni<Map<String, Object>> list(@QueryParam("limit") @DefaultValue("100") int limit,
                                         @QueryParam("after") @DefaultValue("") String after,
                                         @QueryParam("prefix") String prefix,
                                         @QueryParam("targetType") String targetType,
                                         @QueryParam("prioritization") String prioritization) {
        if (limit < 1 || limit > MAX_LIMIT) {
            throw ProblemException.invalidField("limit", "must be between 1 and " + MAX_LIMIT);
        }
        StringBuilder query = new StringBuilder("name > :after");
        Parameters params = Parameters.with("after", after);
        if (prefix != null) {
            if (prefix.isEmpty() || prefix.length() > 63 || !prefix.matches("[a-z0-9._-]+")) {
                throw ProblemException.invalidField("prefix", "must be the start of a queue name: 1 to 63 "
                        + "lower-case letters, digits, '.', '_' or '-'");
            }
            query.append(" and name like :prefix escape '!'");
            params.and("prefix", prefix.replace("_", "!_") + "%");
        }
        if (targetType != null) {
            if (!Targets.isSupported(targetType) && !Targets.isPlanned(targetType)) {
                throw ProblemException.invalidField("targetType", "'" + targetType + "' is not a target type; "
                        + "supported: " + Targets.supported());
            }
            query.append(" and targetType = :targetType");
            params.and("targetType", targetType);
        }
        if (prioritization != null) {
            if (!prioritization.equals("true") && !prioritization.equals("false")) {
                throw ProblemException.invalidField("prioritization", "must be true or false");
            }
            query.append(" and prioritization = :prioritization");
            params.and("prioritization", Boolean.parseBoolean(prioritization));
        }
        return QueueEntity.<QueueEntity>find(query.toString(), Sort.ascending("name"), params).page(0, limit).list()
                .map(rows -> {
                    List<ObjectNode> items = rows.stream().map(QueueService::read).map(QueueResource::view).toList();
                    return rows.size() == limit ? Map.of("items", items, "next", rows.get(rows.size() - 1).name)
                            : Map.of("items", items);
                });
    }

    /**
     * The queue with what the status service knows of it: queued (and, with priorities, queued per level) and
     * running counts, the oldest queued run's age and the agents serving it (left out when the status service
     * cannot tell).
     */
    @GET
    @Path("/{name}")
    @WithSession
    public Uni<ObjectNode> get(@PathParam("name") String name) {
        Names.require("name", name);
        return QueueService.find(name).chain(queue -> status.stats(name).map(stats -> {
            ObjectNode view = view(queue);
            if (stats != null) {
                for (String field : List.of("queued", "queuedByPriority", "running", "oldestQueuedAt",
                        "oldestQueuedAgeSeconds", "agents")) {
                    if (stats.has(field)) {
                        view.set(field, stats.get(field));
                    }
                }
                if (queue.prioritization() && !view.has("queuedByPriority")) {
                    ObjectNode levels = view.putObject("queuedByPriority");
                    for (Priority level : Priority.values()) {
                        levels.put(level.label(), 0);
                    }
                }
            }
            return view;
        }));
    }

    /** Changes the given fields; runs already queued are not affected. */
    @PATCH
    @Path("/{name}")
    public Uni<ObjectNode> update(@PathParam("name") String name, UpdateQueueRequest change) {
        return queues.update(name, change).map(QueueResource::view);
    }

    /** Deletes the queue: 204; 409 while it has unfinished runs unless {@code force=true}, which stops them. */
    @DELETE
    @Path("/{name}")
    public Uni<Response> delete(@PathParam("name") String name, @QueryParam("force") @DefaultValue("false") boolean force) {
        return queues.delete(name, force, status).replaceWith(Response.noContent().build());
    }

    /** Enqueues a run: 202 once it is durable in Kafka. */
    @POST
    @Path("/{name}/runs")
    public Uni<Response> enqueue(@PathParam("name") String name, EnqueueRequest request) {
        if (request == null) {
            throw ProblemException.badRequest("Send a JSON object: {job, inputs?, args?, entrypoint?, "
                    + "templateVariables?, priority?, idempotencyKey?}.");
        }
        return enqueue.enqueue(name, request).map(run -> {
            Response.ResponseBuilder accepted = Response.accepted(run)
                    .location(URI.create("/api/v1/runs/" + run.runId()));
            if (run.consistencyToken() != null) {
                accepted.header(EnqueueResponse.CONSISTENCY_HEADER, run.consistencyToken());
            }
            return accepted.build();
        });
    }

    /**
     * Enqueues up to 1,000 runs in one transaction: 202 with each run's answer in order, once all are durable in
     * Kafka; any invalid run refuses the batch (400, every error named {@code runs[i].field}) and queues nothing.
     */
    @POST
    // the colon as sent, or percent-encoded (as some clients send it): the route is matched on the path as sent
    @Path("/{name}/{batch: runs(?::|%3[Aa])batch}")
    public Uni<Response> enqueueBatch(@PathParam("name") String name, BatchEnqueueRequest request) {
        return enqueue.enqueueBatch(name, request).map(batch -> {
            Response.ResponseBuilder accepted = Response.accepted(batch);
            if (batch.consistencyToken() != null) {
                accepted.header(EnqueueResponse.CONSISTENCY_HEADER, batch.consistencyToken());
            }
            return accepted.build();
        });
    }

    private static ObjectNode view(QueueChanged queue) {
        ObjectNode view = Events.MAPPER.valueToTree(queue);
        view.remove("changedAt");
        view.put("updatedAt", queue.changedAt().toString());
        List<String> notes = Targets.notes(queue.target(), queue.config());
        if (!notes.isEmpty()) {
            notes.forEach(view.putArray("notes")::add);
        }
        return view;
    }
}
