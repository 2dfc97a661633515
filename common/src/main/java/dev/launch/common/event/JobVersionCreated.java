package dev.launch.common.event;

import dev.launch.common.job.JobVersion;

/**
 * Payload of {@code JobVersionCreated} on {@code launch.jobs}: a new version of a job was registered.
 *
 * @param job the version, as the registry serves it
 */
public record JobVersionCreated(JobVersion job) {
}
