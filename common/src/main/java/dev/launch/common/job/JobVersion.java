package dev.launch.common.job;

import com.fasterxml.jackson.annotation.JsonInclude;

import java.time.Instant;
import java.util.List;

/**
 * One immutable version of a job, as the registry serves it and as {@code JobVersionCreated} carries it.
 *
 * @param name        job name
 * @param version     1, 2, 3 ... per name
 * @param digest      {@code sha256:...} of the canonical spec, including the code's content digest
 * @param description free text
 * @param source      where the code comes from
 * @param entrypoint  argv to run (may be empty for images that have their own)
 * @param inputs      typed inputs
 * @param createdAt   when this version was registered
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record JobVersion(String name, int version, String digest, String description, JobSource source,
                         List<String> entrypoint, JobInputs inputs, Instant createdAt) {
}
