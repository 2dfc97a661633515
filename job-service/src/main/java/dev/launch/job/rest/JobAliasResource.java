package dev.launch.job.rest;

import dev.launch.common.naming.Names;
import dev.launch.common.problem.ProblemException;
import dev.launch.job.repository.JobAliasEntity;
import dev.launch.job.repository.JobVersionRepository;
import io.quarkus.hibernate.reactive.panache.common.WithSession;
import io.quarkus.hibernate.reactive.panache.common.WithTransaction;
import io.quarkus.panache.common.Sort;
import io.smallrye.mutiny.Uni;
import jakarta.inject.Inject;
import jakarta.ws.rs.*;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;

import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Aliases of a job's versions. {@code latest} always names the highest version and cannot be set; any other
 * alias (e.g. {@code prod}) is set and moved by users. Enqueue accepts {@code name:alias}.
 */
@Path("/api/v1/jobs/{name}/aliases")
@Produces(MediaType.APPLICATION_JSON)
@Consumes(MediaType.APPLICATION_JSON)
public class JobAliasResource {
    public static final String LATEST = "latest";

    @Inject
    JobVersionRepository versions;

    /** Body of {@code PUT}: the version the alias points to. */
    public record SetAlias(Integer version) {
    }

    @GET
    @WithSession
    public Uni<Map<String, Object>> list(@PathParam("name") String name) {
        Names.require("name", name);
        return versions.findLatest(name).chain(latest -> {
            if (latest == null) {
                throw ProblemException.notFound("no job named '" + name + "'");
            }
            return JobAliasEntity.<JobAliasEntity>find("name", Sort.ascending("alias"), name).list().map(rows -> {
                List<Map<String, Object>> items = new ArrayList<>();
                items.add(view(name, LATEST, latest.version));
                rows.forEach(a -> items.add(view(name, a.alias, a.version)));
                return Map.of("items", items);
            });
        });
    }

    @PUT
    @Path("/{alias}")
    @WithTransaction
    public Uni<Map<String, Object>> set(@PathParam("name") String name, @PathParam("alias") String alias,
                                        SetAlias body) {
        Names.require("name", name);
        checkAlias(alias);
        if (body == null || body.version() == null || body.version() < 1) {
            throw ProblemException.invalidField("version", "required: the version number the alias points to");
        }
        return versions.findVersion(name, body.version()).chain(version -> {
            if (version == null) {
                throw ProblemException.notFound("job '" + name + "' has no version " + body.version());
            }
            return JobAliasEntity.<JobAliasEntity>findById(new JobAliasEntity.Key(name, alias)).chain(existing -> {
                JobAliasEntity entity = existing != null ? existing : new JobAliasEntity();
                entity.name = name;
                entity.alias = alias;
                entity.version = body.version();
                entity.updatedAt = Instant.now();
                return entity.persist().replaceWith(view(name, alias, body.version()));
            });
        });
    }

    @DELETE
    @Path("/{alias}")
    @WithTransaction
    public Uni<Response> delete(@PathParam("name") String name, @PathParam("alias") String alias) {
        Names.require("name", name);
        checkAlias(alias);
        return JobAliasEntity.deleteById(new JobAliasEntity.Key(name, alias)).map(deleted -> {
            if (!deleted) {
                throw ProblemException.notFound("job '" + name + "' has no alias '" + alias + "'");
            }
            return Response.noContent().build();
        });
    }

    static void checkAlias(String alias) {
        Names.require("alias", alias);
        if (LATEST.equals(alias)) {
            throw ProblemException.invalidField("alias", "'latest' always names the newest version and cannot be set");
        }
        if (alias.chars().allMatch(Character::isDigit)) {
            throw ProblemException.invalidField("alias", "an alias must not be a number (it would read as a version)");
        }
    }

    private static Map<String, Object> view(String name, String alias, int version) {
        Map<String, Object> view = new LinkedHashMap<>();
        view.put("name", name);
        view.put("alias", alias);
        view.put("version", version);
        return view;
    }
}
