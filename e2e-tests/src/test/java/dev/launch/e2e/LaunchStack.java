package dev.launch.e2e;

import dev.launch.devstack.Ports;
import dev.launch.devstack.SharedInfra;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** Kafka, PostgreSQL and the four services as separate processes, on free loopback ports. */
public final class LaunchStack implements AutoCloseable {
    private final List<ServiceProcess> processes = new ArrayList<>();
    private final String kafka;
    private final int pgPort;
    private Map<String, String> extraEnv = Map.of();
    /** where the stack's services send their spans, or null: they do not trace */
    public final TraceReceiver traces;
    public final ServiceProcess jobs;
    public final ServiceProcess queues;
    public final ServiceProcess status;

    private static final Object SHARED_LOCK = new Object();
    private static LaunchStack shared;

    /**
     * The stack the end-to-end classes of this JVM share (one start for the module), stopped when the JVM exits.
     * A class that breaks its stack on purpose (the fault tests) starts its own. Its services and agents trace
     * (OpenTelemetry, to {@link #traces}), so every test on it runs with tracing on.
     */
    public static LaunchStack shared() {
        synchronized (SHARED_LOCK) {
            if (shared == null) {
                TraceReceiver receiver = new TraceReceiver();
                LaunchStack stack = new LaunchStack(SharedInfra.kafkaBootstrap(), SharedInfra.postgresPort(),
                        receiver.serviceEnvironment(), receiver);
                Runtime.getRuntime().addShutdownHook(new Thread(stack::close, "launch-stack-stop"));
                shared = stack;
            }
            return shared;
        }
    }

    /** The services on the JVM's shared broker and PostgreSQL. */
    public LaunchStack() {
        this(SharedInfra.kafkaBootstrap(), SharedInfra.postgresPort(), Map.of());
    }

    /**
     * The services on the broker at {@code kafka} and the PostgreSQL at {@code pgPort} (its databases are created
     * here), each with {@code extraEnv} added.
     */
    public LaunchStack(String kafka, int pgPort, Map<String, String> extraEnv) {
        this(kafka, pgPort, extraEnv, null);
    }

    private LaunchStack(String kafka, int pgPort, Map<String, String> extraEnv, TraceReceiver traces) {
        this.traces = traces;
        this.kafka = kafka;
        this.pgPort = pgPort;
        this.extraEnv = extraEnv;
        for (String database : List.of("jobs", "queues", "status")) {
            dev.launch.devstack.Postgres.ensureDatabase(pgPort, database);
        }
        int jobPort = Ports.free();
        int queuePort = Ports.free();
        int statusPort = Ports.free();
        Map<String, String> jobEnv = db("jobs", jobPort);
        jobEnv.put("LAUNCH_ARTIFACT_STORE", Path.of("target", "artifacts").toAbsolutePath().toString());
        jobEnv.put("LAUNCH_CODE_SERVER_PATHS", "/"); // local mode, as ./launch up runs it
        Map<String, String> queueEnv = db("queues", queuePort);
        queueEnv.put("LAUNCH_JOB_SERVICE_URL", "http://127.0.0.1:" + jobPort);
        queueEnv.put("LAUNCH_STATUS_SERVICE_URL", "http://127.0.0.1:" + statusPort);
        ServiceProcess j = add(ServiceProcess.start("job-service", "job-service", jobPort, jobEnv));
        Map<String, String> statusEnv = db("status", statusPort);
        statusEnv.put("LAUNCH_QUEUE_SERVICE_URL", "http://127.0.0.1:" + queuePort);
        ServiceProcess s = add(ServiceProcess.start("status-service", "status-service", statusPort, statusEnv));
        ServiceProcess q = add(ServiceProcess.start("queue-service", "queue-service", queuePort, queueEnv));
        Duration timeout = Duration.ofSeconds(120);
        jobs = j.awaitReady(timeout);
        status = s.awaitReady(timeout);
        queues = q.awaitReady(timeout);
    }

    private Map<String, String> db(String database, int port) {
        Map<String, String> env = new HashMap<>(extraEnv);
        env.put("QUARKUS_HTTP_PORT", String.valueOf(port));
        env.put("LAUNCH_KAFKA_BOOTSTRAP", kafka);
        env.put("LAUNCH_DB_REACTIVE_URL", "postgresql://127.0.0.1:" + pgPort + "/" + database);
        env.put("LAUNCH_DB_JDBC_URL", "jdbc:postgresql://127.0.0.1:" + pgPort + "/" + database);
        return env;
    }

    /** Starts an agent serving {@code queues} and waits until it is ready. */
    public ServiceProcess agent(String name, int maxJobs, String... queues) {
        return agent(name, maxJobs, Map.of(), queues);
    }

    /** An agent with extra settings ({@code LAUNCH_AGENT_DRAIN} ...), and the stack's own. */
    public ServiceProcess agent(String name, int maxJobs, Map<String, String> settings, String... queues) {
        return startAgent(name, maxJobs, settings, queues).awaitReady(Duration.ofSeconds(120));
    }

    /** Starts an agent and returns at once (it gets ready by itself). */
    public ServiceProcess startAgent(String name, int maxJobs, Map<String, String> settings, String... queues) {
        int port = Ports.free();
        Map<String, String> env = new HashMap<>(extraEnv);
        env.putAll(settings);
        env.put("LAUNCH_AGENT_HTTP_PORT", String.valueOf(port));
        env.put("LAUNCH_KAFKA_BOOTSTRAP", kafka);
        env.put("LAUNCH_AGENT_QUEUES", String.join(",", queues));
        env.put("LAUNCH_AGENT_MAX_JOBS", String.valueOf(maxJobs));
        env.put("LAUNCH_AGENT_ID", name);
        env.put("LAUNCH_AGENT_WORKSPACE", Path.of("target", "workspaces").toAbsolutePath().toString());
        env.put("LAUNCH_AGENT_STOP_GRACE", "PT3S");
        return add(ServiceProcess.start(name, "agent-service", port, env));
    }

    private ServiceProcess add(ServiceProcess process) {
        processes.add(process);
        return process;
    }

    @Override
    public void close() {
        for (int i = processes.size() - 1; i >= 0; i--) {
            processes.get(i).close();
        }
        if (traces != null) {
            traces.close();
        }
    }
}
