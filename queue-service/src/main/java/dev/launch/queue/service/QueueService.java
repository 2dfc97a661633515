package dev.launch.queue.service;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.launch.common.event.EventTypes;
import dev.launch.common.event.Events;
import dev.launch.common.event.QueueChanged;
import dev.launch.common.json.JsonSchemas;
import dev.launch.common.naming.Names;
import dev.launch.common.problem.Problem;
import dev.launch.common.problem.ProblemException;
import dev.launch.common.template.ConfigTemplate;
import dev.launch.queue.messaging.QueueEventsPublisher;
import dev.launch.queue.messaging.QueuePositions;
import dev.launch.queue.repository.QueueEntity;
import dev.launch.queue.rest.CreateQueueRequest;
import dev.launch.queue.rest.UpdateQueueRequest;
import io.quarkus.hibernate.reactive.panache.Panache;
import io.smallrye.mutiny.Uni;
import io.vertx.mutiny.core.Vertx;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** Creates and reads queues. */
@ApplicationScoped
public class QueueService {
    private static final Set<String> VARIABLE_TYPES = Set.of("integer", "number", "string");

    @Inject
    QueuePositions kafka;
    @Inject
    dev.launch.queue.repository.EnqueueStore store;
    @Inject
    QueueEventsPublisher events;
    @Inject
    Vertx vertx;

    public Uni<QueueChanged> create(CreateQueueRequest request) {
        QueueChanged queue = validate(request);
        return Panache.withSession(() -> QueueEntity.<QueueEntity>findById(queue.name()))
                .invoke(existing -> {
                    if (existing != null) {
                        throw ProblemException.conflict("queue '" + queue.name() + "' already exists");
                    }
                })
                .chain(() -> vertx.executeBlocking(Uni.createFrom().item(() -> {
                    kafka.createQueueTopics(queue.name(), queue.prioritization());
                    return queue;
                })))
                .chain(() -> Panache.withTransaction(() -> {
                    QueueEntity entity = new QueueEntity();
                    entity.name = queue.name();
                    entity.document = Events.MAPPER.valueToTree(queue).toString();
                    entity.targetType = queue.target().path("type").asText();
                    entity.prioritization = queue.prioritization();
                    entity.createdAt = queue.changedAt();
                    entity.updatedAt = queue.changedAt();
                    return entity.persistAndFlush()
                            .chain(() -> events.publish(EventTypes.QUEUE_CREATED, queue))
                            .onFailure(e -> !(e instanceof ProblemException)).transform(e ->
                                    ProblemException.unavailable("Kafka did not acknowledge the new queue; "
                                            + "nothing was stored. Retry shortly.", 5));
                }))
                .replaceWith(queue);
    }

    /**
     * Changes a queue's config, variables, lockdown, attempts or start timeout. Runs already queued keep what
     * they were validated against (they carry their resolved config); runs enqueued afterwards get the new.
     */
    public Uni<QueueChanged> update(String name, UpdateQueueRequest change) {
        Names.require("name", name);
        if (change == null) {
            throw ProblemException.badRequest("Send a JSON object with the fields to change: config, "
                    + "templateVariables, lockdown, maxAttempts, startTimeout.");
        }
        return Panache.withTransaction(() -> QueueEntity.<QueueEntity>findById(name).chain(entity -> {
            if (entity == null) {
                throw ProblemException.notFound("no queue named '" + name + "'");
            }
            QueueChanged current = read(entity);
            if (change.target() != null && !change.target().equals(current.target())) {
                throw ProblemException.invalidField("target", "a queue's target cannot change; create another queue");
            }
            if (change.prioritization() != null && change.prioritization() != current.prioritization()) {
                throw ProblemException.invalidField("prioritization", "is fixed when a queue is created (its "
                        + "runs wait in one topic, or one per level); create another queue to change it");
            }
            QueueChanged validated = validate(new CreateQueueRequest(name, current.target(),
                    change.config() != null ? change.config() : current.config(),
                    change.templateVariables() != null ? change.templateVariables() : current.templateVariables(),
                    change.prioritization() != null ? change.prioritization() : current.prioritization(),
                    change.lockdown() != null ? change.lockdown() : current.lockdown(),
                    change.maxAttempts() != null ? change.maxAttempts() : current.maxAttempts(),
                    change.startTimeout() != null ? change.startTimeout() : current.startTimeout()));
            entity.document = Events.MAPPER.valueToTree(validated).toString();
            entity.updatedAt = validated.changedAt();
            store.forget(name);
            return entity.persistAndFlush()
                    .invoke(() -> store.forget(name))
                    .chain(() -> events.publish(EventTypes.QUEUE_UPDATED, validated))
                    .onFailure(e -> !(e instanceof ProblemException)).transform(e ->
                            ProblemException.unavailable("Kafka did not acknowledge the change; nothing was "
                                    + "changed. Retry shortly.", 5))
                    .replaceWith(validated);
        }));
    }

    /**
     * Deletes a queue: refused (409) while it has runs that have not ended, unless {@code force}, which asks the
     * status service to stop them first. The queue's topic goes first, so no stale item can outlive the
     * queue; then the registry row, its accepted-run records and a {@code QueueDeleted} event.
     */
    public Uni<Void> delete(String name, boolean force, dev.launch.queue.client.StatusClient status) {
        Names.require("name", name);
        return Panache.withSession(() -> find(name)).chain(queue -> status.stats(name).chain(stats -> {
            if (stats == null) {
                throw ProblemException.unavailable("The status service cannot tell whether queue '" + name
                        + "' has unfinished runs; nothing was deleted. Retry shortly.", 5);
            }
            long active = stats.path("queued").asLong(0) + stats.path("running").asLong(0);
            if (active > 0 && !force) {
                throw ProblemException.conflict("queue '" + name + "' has " + stats.path("queued").asLong(0)
                        + " queued and " + stats.path("running").asLong(0) + " running runs; stop them first, or "
                        + "delete with ?force=true to stop them and delete the queue");
            }
            Uni<Void> stopped = active > 0 ? status.stopAll(name).onFailure().transform(e ->
                    ProblemException.unavailable("Could not stop the queue's runs (" + e.getMessage()
                            + "); nothing was deleted. Retry shortly.", 5)) : Uni.createFrom().voidItem();
            return stopped
                    .chain(() -> vertx.executeBlocking(Uni.createFrom().item(() -> {
                        store.forget(name);
                        kafka.deleteQueueTopics(name);
                        return name;
                    })))
                    .chain(() -> Panache.withTransaction(() -> QueueEntity.deleteById(name)
                            .chain(() -> dev.launch.queue.repository.EnqueuedRunEntity.delete("queue", name))
                            .invoke(() -> store.forget(name))
                            .chain(() -> events.publish(EventTypes.QUEUE_DELETED, new QueueChanged(queue.name(),
                                    queue.target(), queue.config(), queue.templateVariables(), queue.prioritization(),
                                    queue.lockdown(), queue.maxAttempts(), queue.startTimeout(),
                                    Instant.now().truncatedTo(ChronoUnit.MICROS))))));
        }));
    }

    /** The queue named {@code name}, or a 404 problem. Call inside a session. */
    public static Uni<QueueChanged> find(String name) {
        return QueueEntity.<QueueEntity>findById(name).map(entity -> {
            if (entity == null) {
                throw ProblemException.notFound("no queue named '" + name + "'");
            }
            return read(entity);
        });
    }

    public static QueueChanged read(QueueEntity entity) {
        try {
            return Events.MAPPER.readValue(entity.document, QueueChanged.class);
        } catch (java.io.IOException e) {
            throw new IllegalStateException("stored queue " + entity.name + " cannot be read", e);
        }
    }

    static QueueChanged validate(CreateQueueRequest request) {
        if (request == null) {
            throw ProblemException.badRequest("Send a JSON object: {name, target: {type}, config?, templateVariables?, "
                    + "prioritization?, lockdown?, maxAttempts?, startTimeout?}.");
        }
        Names.require("name", request.name());
        List<Problem.FieldError> errors = new ArrayList<>();
        ObjectNode target = request.target();
        if (target == null || !target.path("type").isTextual()) {
            errors.add(new Problem.FieldError("target.type", "required: one of " + Targets.supported()));
        } else {
            String type = target.get("type").asText();
            if (Targets.isPlanned(type)) {
                errors.add(new Problem.FieldError("target.type", "'" + type + "' targets are not supported yet; "
                        + "supported: " + Targets.supported()));
            } else if (!Targets.isSupported(type)) {
                errors.add(new Problem.FieldError("target.type", "'" + type + "' is not a target type; supported: "
                        + Targets.supported()));
            } else {
                errors.addAll(Targets.check(target, request.config(), request.templateVariables()));
            }
        }
        if (request.maxAttempts() != null && (request.maxAttempts() < 1 || request.maxAttempts() > 100)) {
            errors.add(new Problem.FieldError("maxAttempts", "must be between 1 and 100"));
        }
        if (request.startTimeout() != null) {
            try {
                Duration timeout = Duration.parse(request.startTimeout());
                if (timeout.isNegative() || timeout.isZero()) {
                    errors.add(new Problem.FieldError("startTimeout", "must be a positive duration"));
                }
            } catch (DateTimeParseException e) {
                errors.add(new Problem.FieldError("startTimeout",
                        "'" + request.startTimeout() + "' is not an ISO-8601 duration such as PT10M"));
            }
        }
        if (request.templateVariables() != null) {
            errors.addAll(checkVariables(request.templateVariables()));
        }
        if (request.config() != null) {
            Set<String> inText = ConfigTemplate.variablesInText(request.config());
            for (String used : ConfigTemplate.variablesIn(request.config())) {
                if (request.templateVariables() == null || !request.templateVariables().has(used)) {
                    errors.add(new Problem.FieldError("config", "uses {{" + used + "}}, which templateVariables "
                            + "does not declare; declare it, e.g. " + declarationExample(used,
                            inText.contains(used))));
                }
            }
        }
        if (!errors.isEmpty()) {
            throw ProblemException.invalid(errors.size() == 1 ? errors.get(0).field() + ": " + errors.get(0).message()
                    : "The queue has " + errors.size() + " invalid fields; see errors.", errors);
        }
        return new QueueChanged(request.name(), target, request.config(), request.templateVariables(),
                Boolean.TRUE.equals(request.prioritization()), Boolean.TRUE.equals(request.lockdown()),
                request.maxAttempts() == null ? 1 : request.maxAttempts(), request.startTimeout(),
                Instant.now().truncatedTo(ChronoUnit.MICROS));
    }

    /**
     * An example declaration of an undeclared variable: a string when it is spliced into a longer string (a
     * tag in an image name), else a bounded integer (a count), with the string form beside it (a name).
     */
    static String declarationExample(String name, boolean inText) {
        String string = "{\"schema\": {\"type\": \"string\", \"enum\": [\"a\", \"b\"]}, \"default\": \"a\"}";
        if (inText) {
            return "\"" + name + "\": " + string + " (it is part of a longer string, so its value is text)";
        }
        return "\"" + name + "\": {\"schema\": {\"type\": \"integer\", \"minimum\": 0, \"maximum\": 4}, "
                + "\"default\": 1} for a number, or " + string + " for a name";
    }

    /** Each variable is {@code {schema: {type: integer|number|string, ...}, default?, description?}}. */
    static List<Problem.FieldError> checkVariables(ObjectNode variables) {
        List<Problem.FieldError> errors = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = variables.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> var = it.next();
            String field = "templateVariables." + var.getKey();
            JsonNode schema = var.getValue().path("schema");
            if (!schema.isObject()) {
                errors.add(new Problem.FieldError(field + ".schema", "required: a JSON Schema such as "
                        + "{\"type\": \"integer\", \"minimum\": 0, \"maximum\": 4}"));
                continue;
            }
            if (!VARIABLE_TYPES.contains(schema.path("type").asText())) {
                errors.add(new Problem.FieldError(field + ".schema.type", "must be one of " + VARIABLE_TYPES));
                continue;
            }
            List<Problem.FieldError> schemaErrors = JsonSchemas.checkSchema(schema, field + ".schema");
            errors.addAll(schemaErrors);
            if (schemaErrors.isEmpty() && var.getValue().has("default")) {
                errors.addAll(JsonSchemas.validate(schema, var.getValue().get("default"), field + ".default"));
            }
        }
        return errors;
    }
}
