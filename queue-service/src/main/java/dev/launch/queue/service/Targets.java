package dev.launch.queue.service;

import dev.launch.common.job.JobSource;

import java.util.Map;
import java.util.Set;

/** Target types this release launches on, and the job sources each can run. */
public final class Targets {
    public static final String LOCAL_PROCESS = "local-process";
    /** Completes every run at once without starting anything: dry runs and benchmarks of the control plane. */
    public static final String NOOP = "noop";

    /** Target type -> source types it can run. Kubernetes and SageMaker arrive with their own issues. */
    private static final Map<String, Set<String>> SOURCES = Map.of(
            LOCAL_PROCESS, Set.of(JobSource.CODE, JobSource.GIT),
            NOOP, Set.of(JobSource.CODE, JobSource.GIT, JobSource.IMAGE));

    private static final Set<String> PLANNED = Set.of("kubernetes", "sagemaker", "local-container");

    private Targets() {
    }

    public static boolean isSupported(String type) {
        return SOURCES.containsKey(type);
    }

    public static boolean isPlanned(String type) {
        return PLANNED.contains(type);
    }

    public static Set<String> supported() {
        return SOURCES.keySet();
    }

    public static boolean accepts(String targetType, String sourceType) {
        return SOURCES.getOrDefault(targetType, Set.of()).contains(sourceType);
    }

    public static Set<String> sourcesOf(String targetType) {
        return SOURCES.getOrDefault(targetType, Set.of());
    }
}
