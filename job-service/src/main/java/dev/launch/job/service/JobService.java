package dev.launch.job.service;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.launch.common.event.Events;
import dev.launch.common.job.JobInputs;
import dev.launch.common.job.JobSource;
import dev.launch.common.job.JobVersion;
import dev.launch.common.json.JsonSchemas;
import dev.launch.common.naming.Names;
import dev.launch.common.problem.Problem;
import dev.launch.common.problem.ProblemException;
import dev.launch.job.messaging.JobEventsPublisher;
import dev.launch.job.repository.JobVersionEntity;
import dev.launch.job.repository.JobVersionRepository;
import dev.launch.job.rest.CreateJobRequest;
import io.quarkus.hibernate.reactive.panache.Panache;
import io.smallrye.mutiny.Uni;
import io.vertx.mutiny.core.Vertx;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.jboss.logging.Logger;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** Registers job versions: same spec, same version; a changed spec, the next version. */
@ApplicationScoped
public class JobService {
    private static final Logger LOG = Logger.getLogger(JobService.class);

    @Inject
    JobVersionRepository repository;
    @Inject
    SourceResolver sources;
    @Inject
    JobEventsPublisher events;
    @Inject
    Vertx vertx;

    /** The outcome of a create: the version and whether it is new. */
    public record Created(JobVersion version, boolean isNew) {
    }

    public Uni<Created> create(CreateJobRequest request) {
        validate(request);
        return vertx.executeBlocking(Uni.createFrom().item(() -> sources.resolve(request.source())))
                .chain(resolved -> register(request, resolved));
    }

    private Uni<Created> register(CreateJobRequest request, SourceResolver.Resolved resolved) {
        List<String> entrypoint = request.entrypoint() == null ? List.of() : List.copyOf(request.entrypoint());
        JobInputs inputs = request.inputs() == null ? null
                : new JobInputs(request.inputs().schema(), request.inputs().defaults());
        String digest = digest(resolved, entrypoint, inputs);
        return Panache.withTransaction(() -> repository.lockName(request.name())
                .chain(() -> repository.findByDigest(request.name(), digest))
                .chain(existing -> {
                    if (existing != null) {
                        return Uni.createFrom().item(new Created(read(existing), false));
                    }
                    return repository.findLatest(request.name()).chain(latest -> {
                        int version = latest == null ? 1 : latest.version + 1;
                        JobVersion created = new JobVersion(request.name(), version, digest, request.description(),
                                resolved.source(), entrypoint, inputs, Instant.now().truncatedTo(ChronoUnit.MICROS));
                        JobVersionEntity entity = new JobVersionEntity();
                        entity.name = created.name();
                        entity.version = created.version();
                        entity.digest = digest;
                        entity.sourceType = created.source().type();
                        entity.createdAt = created.createdAt();
                        entity.document = Events.MAPPER.valueToTree(created).toString();
                        // store, publish (awaiting the broker's ack), then commit: a failed publish rolls
                        // the version back, so no version exists that launch.jobs never heard of
                        return repository.persistAndFlush(entity)
                                .chain(() -> events.versionCreated(created))
                                .onFailure().transform(e -> {
                                    LOG.warnf(e, "publishing job version %s:%d failed", created.name(), version);
                                    return ProblemException.unavailable(
                                            "Kafka did not acknowledge the new job version; nothing was stored. "
                                                    + "Retry shortly.", 5);
                                })
                                .replaceWith(new Created(created, true));
                    });
                }));
    }

    public static JobVersion read(JobVersionEntity entity) {
        try {
            return Events.MAPPER.readValue(entity.document, JobVersion.class);
        } catch (java.io.IOException e) {
            throw new IllegalStateException("stored job version " + entity.name + ":" + entity.version
                    + " cannot be read", e);
        }
    }

    static void validate(CreateJobRequest request) {
        if (request == null) {
            throw ProblemException.badRequest("Send a JSON object: {name, source, entrypoint?, inputs?, description?}.");
        }
        Names.require("name", request.name());
        List<Problem.FieldError> errors = new ArrayList<>();
        CreateJobRequest.Source source = request.source();
        if (source == null) {
            errors.add(new Problem.FieldError("source", "required: {type:\"image\", image}, {type:\"git\", remote, ref} "
                    + "or {type:\"code\", artifact}"));
        } else if (source.type() == null) {
            errors.add(new Problem.FieldError("source.type", "required: one of image, git, code"));
        } else {
            switch (source.type()) {
                case JobSource.IMAGE -> {
                    if (blank(source.image())) {
                        errors.add(new Problem.FieldError("source.image", "required for an image source, e.g. "
                                + "\"python:3.12-slim\""));
                    }
                }
                case JobSource.GIT -> {
                    if (blank(source.remote())) {
                        errors.add(new Problem.FieldError("source.remote", "required for a git source"));
                    }
                    if (blank(source.ref())) {
                        errors.add(new Problem.FieldError("source.ref",
                                "required for a git source: a branch, a tag or a commit"));
                    }
                }
                case JobSource.CODE -> {
                    if (blank(source.artifact())) {
                        errors.add(new Problem.FieldError("source.artifact",
                                "required for a code source: an absolute directory path or file:// URI"));
                    }
                }
                default -> errors.add(new Problem.FieldError("source.type",
                        "'" + source.type() + "' is not a source type; use image, git or code"));
            }
            boolean needsEntrypoint = !JobSource.IMAGE.equals(source.type());
            if (needsEntrypoint && (request.entrypoint() == null || request.entrypoint().isEmpty())) {
                errors.add(new Problem.FieldError("entrypoint",
                        "required for " + source.type() + " sources: the argv to run, e.g. [\"python\", \"train.py\"]"));
            }
        }
        if (request.entrypoint() != null) {
            for (int i = 0; i < request.entrypoint().size(); i++) {
                if (request.entrypoint().get(i) == null || request.entrypoint().get(i).isEmpty()) {
                    errors.add(new Problem.FieldError("entrypoint[" + i + "]", "must be a non-empty string"));
                }
            }
        }
        if (request.inputs() != null && request.inputs().schema() != null) {
            List<Problem.FieldError> schemaErrors = JsonSchemas.checkSchema(request.inputs().schema(), "inputs.schema");
            errors.addAll(schemaErrors);
            if (schemaErrors.isEmpty() && request.inputs().defaults() != null) {
                ObjectNode partial = request.inputs().schema().deepCopy();
                partial.remove("required");
                errors.addAll(JsonSchemas.validate(partial, request.inputs().defaults(), "inputs.defaults"));
            }
        }
        if (!errors.isEmpty()) {
            throw ProblemException.invalid(errors.size() == 1 ? errors.get(0).field() + ": " + errors.get(0).message()
                    : "The job has " + errors.size() + " invalid fields; see errors.", errors);
        }
    }

    /** sha256 of the canonical spec: pinned source identity, entrypoint and inputs (not the description). */
    static String digest(SourceResolver.Resolved resolved, List<String> entrypoint, JobInputs inputs) {
        ObjectNode spec = JsonNodeFactory.instance.objectNode();
        JobSource source = resolved.source();
        ObjectNode identity = spec.putObject("source").put("type", source.type());
        switch (source.type()) {
            case JobSource.IMAGE -> identity.put("image", source.image());
            case JobSource.GIT -> identity.put("remote", source.remote()).put("commit", source.commit());
            default -> identity.put("content", resolved.contentDigest());
        }
        ArrayNode argv = spec.putArray("entrypoint");
        entrypoint.forEach(argv::add);
        if (inputs != null) {
            spec.set("inputs", Events.MAPPER.valueToTree(inputs));
        }
        try {
            byte[] canonical = Events.MAPPER.writeValueAsBytes(canonical(spec));
            return "sha256:" + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(canonical));
        } catch (NoSuchAlgorithmException | com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private static JsonNode canonical(JsonNode node) {
        if (node.isObject()) {
            Map<String, JsonNode> sorted = new TreeMap<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                if (!e.getValue().isNull()) {
                    sorted.put(e.getKey(), canonical(e.getValue()));
                }
            }
            ObjectNode out = JsonNodeFactory.instance.objectNode();
            sorted.forEach(out::set);
            return out;
        }
        if (node.isArray()) {
            ArrayNode out = JsonNodeFactory.instance.arrayNode();
            node.forEach(child -> out.add(canonical(child)));
            return out;
        }
        return node;
    }

    private static boolean blank(String s) {
        return s == null || s.isBlank();
    }

}
