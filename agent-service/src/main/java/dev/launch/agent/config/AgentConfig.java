package dev.launch.agent.config;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithName;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

/** {@code launch.agent.*}: what this agent serves and how it runs work. */
@ConfigMapping(prefix = "launch.agent")
public interface AgentConfig {
    /** Queues served. */
    List<String> queues();

    /** Runs at most this many at once. */
    @WithName("max-jobs")
    int maxJobs();

    /** Agent id; defaults to {@code agent-<host>-<pid>}. */
    Optional<String> id();

    /** Root of the runs' workspaces. */
    Path workspace();

    /** Time between SIGTERM and SIGKILL when stopping a run. */
    @WithName("stop-grace")
    Duration stopGrace();

    /**
     * On SIGTERM: how long the runs the agent holds may go on to finish by themselves (the agent has left its
     * queues and takes nothing new); what still runs after that is stopped and FAILED in stage {@code agent}.
     */
    Duration drain();

    /** Fault injection for failover tests (see {@code CrashPoints}); empty in production. */
    @WithName("crash-points")
    Optional<String> crashPoints();

    /**
     * The Kafka consumer session timeout of the agent's queue consumers: how long a queue held by an agent that
     * died waits before the broker hands it to another agent (the broker's minimum is 6 s by default).
     */
    @WithName("session-timeout")
    Duration sessionTimeout();

    @WithName("heartbeat-interval")
    Duration heartbeatInterval();

    @WithName("log-batch-lines")
    int logBatchLines();

    @WithName("log-flush-interval")
    Duration logFlushInterval();

    /**
     * The installation id that tells this Launch's work from another's on a shared engine, cluster or account
     * ({@code launch.installation} labels); empty: the UUID kept in {@code .launch/installation}, made on first use.
     */
    Optional<String> installation();

    /** The {@code local-container} target. */
    Container container();

    interface Container {
        /** The docker-compatible command ({@code LAUNCH_CONTAINER_ENGINE}): {@code docker}, {@code podman} ... */
        String engine();

        /** The image that runs {@code code} and {@code git} jobs (their code is mounted at {@code /workspace}). */
        @WithName("base-image")
        String baseImage();

        /** The engine's pull policy for a run's image when the queue's config sets none: missing, always, never. */
        String pull();
    }

    /** The {@code kubernetes} target. */
    Kubernetes kubernetes();

    interface Kubernetes {
        /**
         * The API server to use ({@code LAUNCH_KUBERNETES_API_SERVER}); empty: fabric8's own rules, the in-cluster
         * service account, else the kubeconfig ({@code KUBECONFIG}, else {@code ~/.kube/config}) and its context.
         */
        @WithName("api-server")
        Optional<String> apiServer();

        /**
         * How long a pod may stay in a state that does not clear by itself (the image cannot be pulled, a
         * container config error such as a missing Secret key, a crash loop) before the run fails in stage target.
         */
        @WithName("failure-wait")
        Duration failureWait();

        /** {@code ttlSecondsAfterFinished} of a Job whose config sets none (the agent deletes it once reported). */
        @WithName("ttl-after-finished")
        Duration ttlAfterFinished();

        /** The informers' resync period. */
        Duration resync();

        /** The image that runs {@code code} and {@code git} jobs (their code is fetched into {@code /workspace}). */
        @WithName("base-image")
        String baseImage();

        /** The init container's image that downloads a code job's snapshot ({@code wget} and {@code tar}). */
        @WithName("fetch-image")
        String fetchImage();

        /** The init container's image that checks a git job's commit out ({@code git}). */
        @WithName("git-image")
        String gitImage();

        /**
         * The job service's address as the cluster's pods reach it, for code jobs' snapshots
         * ({@code GET /api/v1/jobs/{name}/versions/{v}/snapshot}); empty: code jobs fail in stage build.
         */
        @WithName("snapshot-url")
        Optional<String> snapshotUrl();
    }

    /** The {@code sagemaker} target. */
    Sagemaker sagemaker();

    interface Sagemaker {
        /**
         * One endpoint for both SageMaker and CloudWatch Logs (a stand-in in tests); empty: the AWS SDK's own
         * settings ({@code AWS_ENDPOINT_URL_SAGEMAKER}, {@code AWS_ENDPOINT_URL_CLOUDWATCH_LOGS},
         * {@code AWS_ENDPOINT_URL}, the profile's {@code endpoint_url}), else the region's public endpoints.
         */
        @WithName("endpoint-url")
        Optional<String> endpointUrl();

        /** The poller's interval while something changes (a job starts, stops, or just ended). */
        @WithName("poll-min")
        Duration pollMin();

        /** The poller's longest interval, reached while every watched job trains steadily. */
        @WithName("poll-max")
        Duration pollMax();

        /** How often a training job's log streams are read. */
        @WithName("log-interval")
        Duration logInterval();

        /** CloudWatch Logs calls per second this agent makes at most (its quota is per account and region). */
        @WithName("log-calls-per-second")
        int logCallsPerSecond();

        /** After a job ended: the output is read until nothing new came for this long (CloudWatch lags) ... */
        @WithName("log-quiet")
        Duration logQuiet();

        /** ... and for this long at most, before the run's end is reported. */
        @WithName("log-grace")
        Duration logGrace();

        /** The longest pause between tries of a CreateTrainingJob refused for capacity or not answered. */
        @WithName("create-retry-max")
        Duration createRetryMax();
    }
}
