package dev.launch.job.rest;

import dev.launch.common.job.JobVersion;
import dev.launch.common.job.JobSource;
import dev.launch.common.naming.Names;
import dev.launch.common.problem.ProblemException;
import dev.launch.job.repository.JobAliasEntity;
import dev.launch.job.repository.JobVersionEntity;
import dev.launch.job.repository.JobVersionRepository;
import dev.launch.job.service.JobService;
import io.quarkus.hibernate.reactive.panache.common.WithSession;
import io.smallrye.mutiny.Uni;
import jakarta.inject.Inject;
import jakarta.ws.rs.*;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;

import java.net.URI;
import java.util.List;
import java.util.Map;

/** The job registry's REST API (design §5). */
@Path("/api/v1/jobs")
@Produces(MediaType.APPLICATION_JSON)
@Consumes(MediaType.APPLICATION_JSON)
public class JobResource {
    private static final int MAX_LIMIT = 500;

    @Inject
    JobService jobs;
    @Inject
    JobVersionRepository repository;

    /** Registers a job version: 201 for a new version, 200 with the existing one for an identical spec. */
    @POST
    public Uni<Response> create(CreateJobRequest request) {
        return jobs.create(request).map(created -> Response
                .status(created.isNew() ? Response.Status.CREATED : Response.Status.OK)
                .location(URI.create("/api/v1/jobs/" + created.version().name() + "/versions/"
                        + created.version().version()))
                .entity(created.version())
                .build());
    }

    /**
     * The latest version of each job, by name; page with {@code after} = the last name seen ({@code next}).
     * Filters: {@code prefix} (names starting with it), {@code sourceType} ({@code code}, {@code git},
     * {@code image}: jobs whose latest version has that source).
     */
    @GET
    @WithSession
    public Uni<Map<String, Object>> list(@QueryParam("limit") @DefaultValue("100") int limit,
                                         @QueryParam("after") String after, @QueryParam("prefix") String prefix,
                                         @QueryParam("sourceType") String sourceType) {
        int bounded = checkLimit(limit);
        if (prefix != null && (prefix.isEmpty() || prefix.length() > 63 || !prefix.matches("[a-z0-9._-]+"))) {
            throw ProblemException.invalidField("prefix", "must be the start of a job name: 1 to 63 lower-case "
                    + "letters, digits, '.', '_' or '-'");
        }
        if (sourceType != null && !List.of(JobSource.CODE, JobSource.GIT, JobSource.IMAGE).contains(sourceType)) {
            throw ProblemException.invalidField("sourceType", "must be one of code, git, image");
        }
        return repository.latestOfEachJob(after, prefix, sourceType, bounded).map(rows -> {
            List<JobVersion> items = rows.stream().map(JobService::read).toList();
            String next = items.size() == bounded ? items.get(items.size() - 1).name() : null;
            return page(items, next);
        });
    }

    @GET
    @Path("/{name}")
    @WithSession
    public Uni<JobVersion> latest(@PathParam("name") String name) {
        Names.require("name", name);
        return repository.findLatest(name).map(entity -> found(entity, "no job named '" + name + "'"));
    }

    @GET
    @Path("/{name}/versions")
    @WithSession
    public Uni<Map<String, Object>> versions(@PathParam("name") String name,
                                             @QueryParam("limit") @DefaultValue("100") int limit,
                                             @QueryParam("after") @DefaultValue("0") int after) {
        Names.require("name", name);
        int bounded = checkLimit(limit);
        return repository.versions(name, after, bounded).chain(rows -> {
            if (rows.isEmpty() && after == 0) {
                return repository.findLatest(name).map(latest -> {
                    throw ProblemException.notFound("no job named '" + name + "'");
                });
            }
            List<JobVersion> items = rows.stream().map(JobService::read).toList();
            String next = items.size() == bounded ? String.valueOf(items.get(items.size() - 1).version()) : null;
            return Uni.createFrom().item(page(items, next));
        });
    }

    /** One version, by number ({@code 3}) or alias ({@code latest}, {@code prod}). */
    @GET
    @Path("/{name}/versions/{version}")
    @WithSession
    public Uni<JobVersion> version(@PathParam("name") String name, @PathParam("version") String version) {
        Names.require("name", name);
        if (version.chars().allMatch(Character::isDigit) && !version.isEmpty() && version.length() < 10) {
            int number = Integer.parseInt(version);
            return repository.findVersion(name, number)
                    .map(entity -> found(entity, "job '" + name + "' has no version " + number));
        }
        if (JobAliasResource.LATEST.equals(version)) {
            return latest(name);
        }
        if (!Names.isValid(version)) {
            throw ProblemException.invalidField("version", "'" + version + "' is neither a version number nor an alias");
        }
        return JobAliasEntity.<JobAliasEntity>findById(new JobAliasEntity.Key(name, version)).chain(alias -> {
            if (alias == null) {
                throw ProblemException.notFound("job '" + name + "' has no version or alias '" + version + "'");
            }
            return repository.findVersion(name, alias.version).map(entity -> found(entity, "job '" + name
                    + "' has no version " + alias.version));
        });
    }

    /**
     * A version's code snapshot as a gzipped tar, for targets whose machines cannot read the job service's disk
     * (a Kubernetes init container fetches it); a job whose source is not {@code code} has none (404).
     */
    @GET
    @Path("/{name}/versions/{version}/snapshot")
    @Produces("application/gzip")
    public Uni<Response> snapshot(@PathParam("name") String name, @PathParam("version") String version) {
        // the version is read in a session of its own; the archive is made after it, off the event loop
        return io.quarkus.hibernate.reactive.panache.Panache.withSession(() -> version(name, version))
                .emitOn(io.smallrye.mutiny.infrastructure.Infrastructure.getDefaultWorkerPool())
                .map(job -> {
            if (!dev.launch.common.job.JobSource.CODE.equals(job.source().type()) || job.source().snapshot() == null) {
                throw ProblemException.notFound("job " + name + ":" + job.version() + " runs from "
                        + job.source().type() + ", not a code snapshot");
            }
            java.nio.file.Path dir = java.nio.file.Path.of(job.source().snapshot());
            if (!java.nio.file.Files.isDirectory(dir)) {
                throw ProblemException.notFound("the snapshot of job " + name + ":" + job.version()
                        + " is no longer in the artifact store");
            }
            java.io.ByteArrayOutputStream body = new java.io.ByteArrayOutputStream();
            try {
                dev.launch.common.job.CodeArchive.write(dir, body);
            } catch (java.io.IOException e) {
                throw new IllegalStateException("the snapshot of job " + name + ":" + job.version()
                        + " cannot be read: " + e.getMessage(), e);
            }
            return Response.ok(body.toByteArray(), "application/gzip").header("Content-Disposition",
                    "attachment; filename=\"" + name + "-" + job.version() + ".tar.gz\"")
                    .header("ETag", "\"" + job.digest() + "\"").build();
        });
    }

    private static JobVersion found(JobVersionEntity entity, String missing) {
        if (entity == null) {
            throw ProblemException.notFound(missing);
        }
        return JobService.read(entity);
    }

    private static int checkLimit(int limit) {
        if (limit < 1 || limit > MAX_LIMIT) {
            throw ProblemException.invalidField("limit", "must be between 1 and " + MAX_LIMIT);
        }
        return limit;
    }

    private static Map<String, Object> page(List<?> items, String next) {
        return next == null ? Map.of("items", items) : Map.of("items", items, "next", next);
    }
}
