package dev.launch.queue.client;

import dev.launch.common.event.Events;
import dev.launch.common.job.JobVersion;
import dev.launch.common.problem.ProblemException;
import io.smallrye.mutiny.Uni;
import io.vertx.mutiny.ext.web.client.WebClient;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;

import java.net.URI;
import java.time.Duration;

/** Reads job versions from the job service, for validation at enqueue. */
@ApplicationScoped
public class JobClient {
    @Inject
    WebClient client;
    @ConfigProperty(name = "launch.job-service.url")
    URI jobService;

    /** The job version {@code name:version} (a number or an alias), or the latest when {@code version} is null. */
    public Uni<JobVersion> fetch(String name, String version) {
        String path = version == null ? "/api/v1/jobs/" + name : "/api/v1/jobs/" + name + "/versions/" + version;
        return client.getAbs(jobService.resolve(path).toString()).timeout(5000).send()
                .ifNoItem().after(Duration.ofSeconds(6)).fail()
                .onFailure().transform(e -> ProblemException.unavailable(
                        "The job service at " + jobService + " did not answer; nothing was queued. Retry shortly.", 5))
                .map(response -> {
                    if (response.statusCode() == 404) {
                        throw ProblemException.notFound(version == null ? "no job named '" + name + "'"
                                : "job '" + name + "' has no version or alias '" + version + "'");
                    }
                    if (response.statusCode() != 200) {
                        throw ProblemException.unavailable("The job service answered " + response.statusCode()
                                + " for job '" + name + "'; nothing was queued. Retry shortly.", 5);
                    }
                    try {
                        return Events.MAPPER.readValue(response.bodyAsString(), JobVersion.class);
                    } catch (java.io.IOException e) {
                        throw new IllegalStateException("unreadable job version from the job service", e);
                    }
                });
    }
}
