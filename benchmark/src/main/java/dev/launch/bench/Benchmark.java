package dev.launch.bench;

import com.fasterxml.jackson.databind.JsonNode;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The benchmark behind {@code ./launch bench}: against a running local stack, measures Kafka's own producer
 * rate and end-to-end latency, then Launch's dispatch latency under open-loop load, throughput to FINISHED,
 * a deep queue and many queues, prints a table and writes it with the machine and settings to a Markdown file.
 * Runs use the {@code noop} target (the control plane alone) unless said otherwise.
 *
 * <p>Arguments: {@code --kafka host:port --jobs URL --queues URL --status URL --agent-jar PATH
 * --broker-classpath FILE --work DIR --out FILE [--jvm-options "..."] [--kafka-jvm-options "..."] [--quick]
 * [--only scenario,...]}
 * (scenarios: kafka, latency, overload, throughput, depth, breadth, shared, containers, kubernetes, sagemaker; a partial run
 * writes a partial page).
 */
public final class Benchmark {
    /** The sizes of one benchmark run. */
    record Sizes(int latencySeconds, int spawnSeconds, int throughputRuns, int depthRuns, int breadthQueues,
                 int breadthSeconds, int kafkaRecords, int kafkaLatencyRecords) {
        static final Sizes FULL = new Sizes(60, 30, 20_000, 100_000, 500, 30, 300_000, 10_000);
        static final Sizes QUICK = new Sizes(10, 10, 3_000, 10_000, 50, 10, 50_000, 2_000);
    }

    private final Api api;
    private final Processes processes;
    private final String kafka;
    private final Path work;
    private final Sizes sizes;
    private final boolean quick;
    /** Scenarios to run ({@code --only kafka,latency,throughput,depth,breadth}); empty means all. */
    private final List<String> only;
    private final String jvmOptions;
    private final String kafkaJvmOptions;
    private final Report report = new Report();
    private final RunEvents events;
    private String job;
    private int agents;
    /** the pool sizes of the shared-queue scenario ({@code --shared-agents 1,4,6,16}) */
    private final int[] sharedAgents;
    /** {@code ./launch}, whose CLI commands the "cli" scenario times beside curl (absent: the scenario is skipped). */
    private final Path launchScript;
    private final Map<String, String> urls;

    private Benchmark(Map<String, String> options) throws IOException {
        kafka = required(options, "kafka");
        api = new Api(required(options, "jobs"), required(options, "queues"), required(options, "status"));
        work = Files.createDirectories(Path.of(required(options, "work")));
        quick = options.containsKey("quick");
        only = options.containsKey("only") ? List.of(options.get("only").split(",")) : List.of();
        sizes = quick ? Sizes.QUICK : Sizes.FULL;
        sharedAgents = java.util.Arrays.stream(options.getOrDefault("shared-agents", quick ? "1,4" : "1,4,6,16")
                .split(",")).mapToInt(Integer::parseInt).toArray();
        jvmOptions = options.getOrDefault("jvm-options", "-Xms256m -Xmx512m -XX:+UseSerialGC").trim();
        kafkaJvmOptions = options.getOrDefault("kafka-jvm-options", jvmOptions).trim();
        processes = new Processes(kafka, Path.of(required(options, "agent-jar")),
                Path.of(required(options, "broker-classpath")), work.resolve("logs"),
                List.of(jvmOptions.trim().split("\\s+")));
        events = new RunEvents(kafka);
        launchScript = options.containsKey("launch-script") ? Path.of(options.get("launch-script")) : null;
        urls = Map.of("LAUNCH_JOB_URL", required(options, "jobs"), "LAUNCH_QUEUE_URL", required(options, "queues"),
                "LAUNCH_STATUS_URL", required(options, "status"));
    }

    public static void main(String[] args) {
        // the HTTP client's and the load timers' threads would keep the JVM: exit explicitly either way
        try {
            run(args);
            System.exit(0);
        } catch (Throwable e) {
            e.printStackTrace();
            System.exit(1);
        }
    }

    private static void run(String[] args) throws Exception {
        Map<String, String> options = new HashMap<>();
        for (int i = 0; i < args.length; i++) {
            if (!args[i].startsWith("--")) {
                throw new IllegalArgumentException("unexpected argument " + args[i]);
            }
            String key = args[i].substring(2);
            if (key.equals("quick")) {
                options.put(key, "true");
            } else {
                options.put(key, args[++i]);
            }
        }
        Benchmark benchmark = new Benchmark(options);
        Path out = Path.of(required(options, "out"));
        try {
            benchmark.run();
        } finally {
            benchmark.events.close();
        }
        String table = benchmark.report.table();
        System.out.println();
        System.out.println(table);
        Files.createDirectories(out.toAbsolutePath().getParent());
        Files.writeString(out, benchmark.report.markdown(benchmark.machine(), benchmark.settings()));
        System.out.println("written to " + out);
    }

    private static String required(Map<String, String> options, String key) {
        String value = options.get(key);
        if (value == null) {
            throw new IllegalArgumentException("--" + key + " is required");
        }
        return value;
    }

    private void run() throws Exception {
        long began = System.nanoTime();
        if (wanted("kafka")) {
            kafkaBaseline();
        }
        setUp();
        if (wanted("latency") || wanted("throughput") || wanted("overload")) {
            scenario("warm-up", this::warmUpAll);
        }
        if (wanted("latency")) {
            scenario("Dispatch latency (noop)", () -> latency("noop", 50, sizes.latencySeconds()));
            scenario("Dispatch latency (noop)", () -> latency("noop", 200, sizes.latencySeconds()));
            scenario("Dispatch latency (local-process: `true`)", () -> latency("local-process", 20,
                    sizes.spawnSeconds()));

        }
        if (wanted("overload")) {
            scenario("Overload (noop)", () -> overload(800, quick ? 5 : 10));
        }
        if (wanted("throughput")) {
            scenario("Throughput (noop, 1 agent, max-jobs 64)", () -> throughput(1, 0));
            scenario("Throughput (noop, 1 agent, max-jobs 64)", () -> throughput(10, 0));
            scenario("Throughput (noop, 1 agent, max-jobs 64)", () -> throughput(1, 1000));
        }
        if (wanted("depth")) {
            scenario("Depth", this::depth);
        }
        if (wanted("breadth")) {
            scenario("Breadth", this::breadth);
        }
        if (wanted("shared")) {
            scenario(SHARED, this::sharedQueue);
        }
        if (wanted("containers")) {
            scenario("Containers (local-container: `true`)", this::containers);
        }
        if (wanted("kubernetes")) {
            scenario(KUBERNETES, this::kubernetes);
        }
        if (wanted("sagemaker")) {
            scenario(SAGEMAKER, this::sageMaker);
        }
        if (wanted("cli") && launchScript != null) {
            scenario(CLI, this::cli);
        }
        if (only.isEmpty()) {
            ratios();
        }
        report.note("benchmark wall time " + Duration.ofNanos(System.nanoTime() - began).toSeconds() + " s");
    }

    private static final String CLI = "CLI start-up (wall time per command, 20 each)";

    /**
     * What a person waits for at the terminal: {@code ./launch --version} and {@code ./launch runs list} (the
     * script, a JVM with the CLI's class-data archive, the request, the table) beside curl asking the same
     * endpoint.
     */
    private void cli() throws Exception {
        step(CLI);
        int n = 20;
        run(List.of("bash", launchScript.toString(), "--version")); // the first run makes the class-data archive
        List<Double> version = new ArrayList<>();
        List<Double> list = new ArrayList<>();
        List<Double> curl = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            version.add(run(List.of("bash", launchScript.toString(), "--version")));
            list.add(run(List.of("bash", launchScript.toString(), "runs", "list", "--limit", "20")));
            curl.add(run(List.of("curl", "-fsS", "-o", "/dev/null", urls.get("LAUNCH_STATUS_URL") + "/api/v1/runs?limit=20")));
        }
        report.row(CLI, "./launch --version p50/p95/p99", Stats.of(version).ms() + " ms", "JVM start with the CDS archive");
        report.row(CLI, "./launch runs list --limit 20 p50/p95/p99", Stats.of(list).ms() + " ms", "the request and a table");
        report.row(CLI, "curl GET /api/v1/runs?limit=20 p50/p95/p99", Stats.of(curl).ms() + " ms", "the same request, for scale");
    }

    /** Runs a command to its end; its wall time in ms. */
    private double run(List<String> command) throws Exception {
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD);
        builder.environment().putAll(urls);
        long start = System.nanoTime();
        Process process = builder.start();
        if (!process.waitFor(60, TimeUnit.SECONDS) || process.exitValue() != 0) {
            process.destroyForcibly();
            throw new IllegalStateException(String.join(" ", command) + " failed or hung");
        }
        return (System.nanoTime() - start) / 1e6;
    }

    // ------------------------------------------------------------------------------------------------------

    private interface Scenario {
        void run() throws Exception;
    }

    /** Runs one scenario; one that fails is reported in the table and the others still run. */
    private void scenario(String section, Scenario scenario) {
        try {
            scenario.run();
        } catch (Exception e) {
            System.out.println("   failed: " + e);
            e.printStackTrace(System.out);
            report.row(section, "did not complete", "failed", e.toString().replace('|', '/'));
        }
    }

    private boolean wanted(String scenario) {
        return only.isEmpty() || only.contains(scenario);
    }

    private void kafkaBaseline() throws Exception {
        step("Kafka's own tools");
        String topic = "bench-raw-" + System.currentTimeMillis();
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka))) {
            admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1), new NewTopic(topic + "-e2e", 1, (short) 1)))
                    .all().get(30, TimeUnit.SECONDS);
        }
        String produced = processes.kafkaTool("org.apache.kafka.tools.ProducerPerformance", List.of(
                "--topic", topic, "--num-records", String.valueOf(sizes.kafkaRecords()), "--record-size", "1024",
                "--throughput", "-1", "--producer-props", "bootstrap.servers=" + kafka, "acks=all"),
                Duration.ofMinutes(10));
        Matcher rate = Pattern.compile("(\\d+) records sent, ([\\d.]+) records/sec \\(([\\d.]+) MB/sec\\), "
                + "([\\d.]+) ms avg latency, ([\\d.]+) ms max latency, (\\d+) ms 50th, (\\d+) ms 95th, (\\d+) ms 99th")
                .matcher(produced);
        if (!rate.find()) {
            throw new IOException("cannot read ProducerPerformance's summary: " + produced);
        }
        double recordsPerSecond = Double.parseDouble(rate.group(2));
        report.kafkaProduceRate = recordsPerSecond;
        report.row("Kafka baseline", "producer-perf-test: 1 partition, 1 KB, acks=all",
                String.format("%,.0f records/s (%s MB/s)", recordsPerSecond, rate.group(3)),
                "send latency p50/p95/p99 " + rate.group(6) + " / " + rate.group(7) + " / " + rate.group(8) + " ms");
        String latency = processes.kafkaTool("org.apache.kafka.tools.EndToEndLatency", List.of(kafka, topic + "-e2e",
                String.valueOf(sizes.kafkaLatencyRecords()), "all", "1024"), Duration.ofMinutes(10));
        Matcher avg = Pattern.compile("Avg latency: ([\\d.]+) ms").matcher(latency);
        Matcher pct = Pattern.compile("Percentiles: 50th = ([\\d.]+), 99th = ([\\d.]+), 99.9th = ([\\d.]+)")
                .matcher(latency);
        if (!avg.find() || !pct.find()) {
            throw new IOException("cannot read EndToEndLatency's summary: " + latency);
        }
        // the tool prints whole milliseconds: a p50 under 1 ms reads 0, and the average is the fairer yardstick
        report.kafkaE2eP50 = Double.parseDouble(pct.group(1)) > 0 ? Double.parseDouble(pct.group(1))
                : Double.parseDouble(avg.group(1));
        report.row("Kafka baseline", "end-to-end latency: 1 KB, acks=all, one record at a time",
                "p50 " + pct.group(1) + " ms, p99 " + pct.group(2) + " ms",
                "avg " + avg.group(1) + " ms, p99.9 " + pct.group(3) + " ms");
    }

    private void setUp() throws Exception {
        step("set-up");
        Path code = Files.createDirectories(work.resolve("job-code"));
        Files.writeString(code.resolve("README"), "benchmark job: the noop target starts nothing; local-process runs true\n");
        String suffix = Long.toString(System.currentTimeMillis(), 36);
        job = "bench-" + suffix;
        api.post(api.jobs + "/api/v1/jobs", "{\"name\":\"" + job + "\",\"source\":{\"type\":\"code\",\"artifact\":\""
                + code + "\"},\"entrypoint\":[\"true\"]}", 201);
    }

    private String queue(String name, String target) throws Exception {
        api.post(api.queues + "/api/v1/queues", "{\"name\":\"" + name + "\",\"target\":{\"type\":\"" + target + "\"}}",
                201);
        return name;
    }

    private String body() {
        return "{\"job\":\"" + job + "\"}";
    }

    private Processes.Agent agent(List<String> queues, int maxJobs) throws Exception {
        Processes.Agent agent = processes.agent("bench-agent-" + (++agents), queues, maxJobs, work.resolve("workspaces"));
        agent.awaitReady(Duration.ofMinutes(5));
        return agent;
    }

    /** Open-loop load at {@code perSecond}: enqueue → CLAIMED and → RUNNING, from the client's send. */
    private void latency(String target, int perSecond, int seconds) throws Exception {
        step("dispatch latency, " + target + ", " + perSecond + " runs/s for " + seconds + " s");
        String queue = queue("bench-lat-" + target + "-" + perSecond, target);
        try (Processes.Agent agent = agent(List.of(queue), 64)) {
            warmUp(queue);
            Map<String, Long> cpuBefore = CpuMeter.snapshot();
            long cpuFrom = System.nanoTime();
            Api.Batch batch = api.openLoop(List.of(queue), body(), perSecond, seconds);
            Map<String, Long> cpu = CpuMeter.between(cpuBefore, CpuMeter.snapshot());
            double cpuSeconds = (System.nanoTime() - cpuFrom) / 1e9;
            boolean all = events.awaitEnded(batch.runIds(), Duration.ofMinutes(3));
            List<Double> claimed = sinceSent(batch, t -> t.claimed);
            List<Double> running = sinceSent(batch, t -> t.running);
            List<Double> answered = answerMillis(batch);
            Stats toRunning = Stats.of(running);
            if ("noop".equals(target) && perSecond == 200) {
                report.dispatchP50 = toRunning.p50();
            }
            String section = "Dispatch latency (" + target + ("noop".equals(target) ? "" : ": `true`") + ")";
            String load = perSecond + " runs/s open loop for " + seconds + " s";
            report.row(section, load + ": enqueue → CLAIMED p50/p95/p99", Stats.of(claimed).ms() + " ms",
                    batch.accepted.size() + " accepted, " + batch.refusals()
                            + (all ? "" : ", not all ended in 3 min"));
            report.row(section, load + ": enqueue → RUNNING p50/p95/p99", toRunning.ms() + " ms",
                    "202 answered in " + Stats.of(answered).ms() + " ms");
            cpuRow(section, load + ": CPU per run while the load ran (ms of CPU time, all processes)", cpu,
                    batch.accepted.size(), cpuSeconds);
        }
    }

    /** Milliseconds from each accepted run's send to the time {@code at} gives (µs; runs without it left out). */
    private List<Double> sinceSent(Api.Batch batch, java.util.function.ToLongFunction<RunEvents.Times> at) {
        List<Double> ms = new ArrayList<>();
        synchronized (batch.accepted) {
            for (Api.Sent sent : batch.accepted) {
                long when = at.applyAsLong(events.of(sent.runId()));
                if (when != 0) {
                    ms.add((when - sent.sentMicros()) / 1000.0);
                }
            }
        }
        return ms;
    }

    /** How long each accepted run's 202 took, ms. */
    private static List<Double> answerMillis(Api.Batch batch) {
        synchronized (batch.accepted) {
            return batch.accepted.stream().map(Api.Sent::answerMillis).toList();
        }
    }

    /**
     * Far more single enqueues than the stack takes ({@code perSecond} open loop): what is refused must be refused
     * at once (503 or 429 with Retry-After, no hang, no timeout), and what is accepted keep its latency.
     */
    private void overload(int perSecond, int seconds) throws Exception {
        step("overload, " + perSecond + " runs/s for " + seconds + " s");
        String queue = queue("bench-overload-" + perSecond, "noop");
        try (Processes.Agent agent = agent(List.of(queue), 64)) {
            warmUp(queue);
            Api.Batch batch = api.openLoop(List.of(queue), body(), perSecond, seconds);
            boolean all = events.awaitEnded(batch.runIds(), Duration.ofMinutes(3));
            List<Double> claimed = sinceSent(batch, t -> t.claimed);
            List<Double> answered = answerMillis(batch);
            String load = perSecond + " runs/s open loop for " + seconds + " s";
            report.row("Overload (noop)", load + ": accepted, and their enqueue → CLAIMED p50/p95/p99",
                    String.format("%,d of %,d; %s ms", batch.accepted.size(), perSecond * seconds,
                            Stats.of(claimed).ms()), batch.refusals() + (all ? "" : "; not all accepted ended in 3 min"));
            report.row("Overload (noop)", load + ": answer time p50/p95/p99, accepted (202) / refused",
                    Stats.of(answered).ms() + " / " + Stats.of(new ArrayList<>(batch.refusedMillis)).ms() + " ms",
                    "admission: launch.enqueue.max-in-flight (256 requests), launch.enqueue.target-latency (500 ms)");
        }
    }

    /**
     * Before anything is measured: runs through every service for a while, so their hot paths are compiled
     * (the JIT would otherwise be measured along with them).
     */
    private void warmUpAll() throws Exception {
        step("warm-up");
        String queue = queue("bench-warm-up", "noop");
        try (Processes.Agent agent = agent(List.of(queue), 64)) {
            Api.Batch warm = api.closedLoop(List.of(queue), body(), quick ? 2_000 : 5_000, 32);
            events.awaitEnded(warm.runIds(), Duration.ofMinutes(5));
        }
    }

    /** A few hundred runs first, so the agent's and services' code paths are compiled before measuring. */
    private void warmUp(String queue) throws Exception {
        Api.Batch warm = api.closedLoop(List.of(queue), body(), quick ? 100 : 500, 16);
        events.awaitEnded(warm.runIds(), Duration.ofMinutes(2));
    }

    /**
     * As fast as enqueues go, {@code throughputRuns} runs over {@code queues} queues; enqueue → FINISHED. Single
     * enqueues with 64 in flight, or ({@code batchSize} > 0, one queue) batch enqueues of that size, 2 in flight.
     */
    private void throughput(int queueCount, int batchSize) throws Exception {
        int runs = sizes.throughputRuns();
        step("throughput, " + runs + " runs over " + queueCount + " queue(s)"
                + (batchSize > 0 ? " in batches of " + batchSize : ""));
        List<String> queues = new ArrayList<>();
        for (int i = 0; i < queueCount; i++) {
            queues.add(queue("bench-tp" + queueCount + (batchSize > 0 ? "-b" + batchSize : "") + "-" + i, "noop"));
        }
        try (Processes.Agent agent = agent(queues, 64)) {
            warmUp(queues.get(0));
            Map<String, Long> cpuBefore = CpuMeter.snapshot();
            Api.Batch batch = batchSize > 0 ? api.batchedLoop(queues.get(0), body(), runs, batchSize, 2)
                    : api.closedLoop(queues, body(), runs, 64);
            boolean all = events.awaitEnded(batch.runIds(), Duration.ofMinutes(quick ? 5 : 10));
            Map<String, Long> cpu = CpuMeter.between(cpuBefore, CpuMeter.snapshot());
            long lastEnded = batch.runIds().stream().mapToLong(id -> events.of(id).ended).max().orElse(0);
            long ended = events.ended(batch.runIds());
            double seconds = (lastEnded - batch.firstSentMicros) / 1e6;
            double rate = ended / seconds;
            double enqueueRate = batch.accepted.size() / ((batch.lastAnsweredMicros - batch.firstSentMicros) / 1e6);
            String how = queueCount + (queueCount == 1 ? " queue" : " queues") + (batchSize > 0
                    ? String.format(", batch enqueues of %,d (2 in flight)", batchSize) : ", 64 enqueues in flight");
            if (queueCount == 1 && batchSize == 0) {
                report.throughputOneQueue = rate;
            }
            if (batchSize > 0) {
                report.throughputBatched = rate;
            }
            report.row("Throughput (noop, 1 agent, max-jobs 64)", runs + " runs on " + how + ": enqueue → FINISHED",
                    String.format("%,.0f runs/s", rate), String.format("enqueue alone %,.0f runs/s; %d of %d ended "
                            + "in %.1f s%s; %s", enqueueRate, ended, runs, seconds, all ? "" : " (time limit hit)",
                            batch.refusals()));
            cpuRow("Throughput (noop, 1 agent, max-jobs 64)", "CPU per run, " + how
                    + " (ms of CPU time, all processes)", cpu, ended, seconds);
        }
    }

    /** A row of CPU time per run, by process, and how busy the machine's cores were over {@code seconds}. */
    private void cpuRow(String section, String measure, Map<String, Long> cpu, long runs, double seconds) {
        long total = cpu.values().stream().mapToLong(Long::longValue).sum();
        StringBuilder parts = new StringBuilder();
        cpu.forEach((part, ms) -> parts.append(parts.length() == 0 ? "" : ", ").append(part).append(' ')
                .append(String.format("%.1f", ms / (double) runs)));
        int cores = Runtime.getRuntime().availableProcessors();
        report.row(section, measure, String.format("%.1f ms", total / (double) runs), parts
                + String.format("; the machine's %d cores were %.0f%% busy", cores,
                100.0 * total / (seconds * 1000 * cores)));
    }

    /** {@code depthRuns} runs queued on one queue with no agent, then drained. */
    private void depth() throws Exception {
        int runs = sizes.depthRuns();
        int slice = runs / 10;
        step("depth, " + runs + " runs queued on one queue");
        String queue = queue("bench-deep", "noop");
        Api.Batch batch = api.closedLoop(List.of(queue), body(), runs, 32);
        List<Api.Sent> bySend;
        synchronized (batch.accepted) {
            bySend = new ArrayList<>(batch.accepted);
        }
        bySend.sort(Comparator.comparingLong(Api.Sent::sentMicros));
        Stats first = Stats.of(bySend.subList(0, Math.min(slice, bySend.size())).stream().map(Api.Sent::answerMillis).toList());
        Stats last = Stats.of(bySend.subList(Math.max(0, bySend.size() - slice), bySend.size()).stream()
                .map(Api.Sent::answerMillis).toList());
        double enqueueRate = batch.accepted.size() / ((batch.lastAnsweredMicros - batch.firstSentMicros) / 1e6);
        String section = "Depth (" + String.format("%,d", runs) + " queued on one queue)";
        report.row(section, "enqueue answer time, first " + String.format("%,d", slice) + " p50/p95/p99",
                first.ms() + " ms", String.format("%,.0f enqueues/s with 32 in flight; %s", enqueueRate,
                        batch.refusals()));
        report.row(section, "enqueue answer time, last " + String.format("%,d", slice) + " p50/p95/p99",
                last.ms() + " ms", "");
        String lastRun = bySend.get(bySend.size() - 1).runId();
        RunEvents.await(() -> {
            try {
                JsonNode run = api.get(api.status + "/api/v1/runs/" + lastRun);
                return run.has("position");
            } catch (Exception e) {
                return false;
            }
        }, Duration.ofMinutes(2));
        JsonNode position = api.get(api.status + "/api/v1/runs/" + lastRun);
        report.row(section, "GET a run with its position (the last one) p50/p95/p99",
                Stats.of(api.timeGets(api.status + "/api/v1/runs/" + lastRun, 50)).ms() + " ms",
                "position " + position.path("position").asText());
        report.row(section, "GET the queue's detail p50/p95/p99",
                Stats.of(api.timeGets(api.queues + "/api/v1/queues/" + queue, 50)).ms() + " ms",
                "queued " + api.get(api.queues + "/api/v1/queues/" + queue).path("queued").asText());
        long started = RunEvents.micros(Instant.now());
        try (Processes.Agent agent = agent(List.of(queue), 64)) {
            boolean all = events.awaitEnded(batch.runIds(), Duration.ofMinutes(quick ? 5 : 10));
            long lastEnded = batch.runIds().stream().mapToLong(id -> events.of(id).ended).max().orElse(0);
            long ended = events.ended(batch.runIds());
            double seconds = (lastEnded - started) / 1e6;
            report.row(section, "drain: agent start → last FINISHED", String.format("%.1f s", seconds),
                    String.format("%,d of %,d ended, %,.0f runs/s including the agent's start%s", ended, runs,
                            ended / seconds, all ? "" : " (time limit hit)"));
        }
    }

    /**
     * The container engine's own create + start rate first, then Launch on the local-container target at half
     * that rate: enqueue → RUNNING of a container running {@code true}.
     */
    private void containers() throws Exception {
        String section = "Containers (local-container: `true`)";
        step("containers");
        ContainerEngineBench engine = ContainerEngineBench.find(work);
        if (engine == null) {
            report.row(section, "skipped", "-", "no container engine (LAUNCH_CONTAINER_ENGINE, podman or docker) "
                    + "or no image (LAUNCH_BENCH_IMAGE, or /bin/busybox from busybox-static)");
            return;
        }
        int n = quick ? 10 : 30;
        engine.createStart(2); // the engine's first calls load its storage
        double seconds = engine.createStart(n);
        double rate = n / seconds;
        report.row(section, "engine alone: " + n + " × create + start, one after another",
                String.format("%.1f containers/s", rate), String.format("%.0f ms each (%s)", seconds * 1000 / n,
                        engine.engine.get(engine.engine.size() - 1)));
        String image = "bench-container-" + Long.toString(System.currentTimeMillis(), 36);
        api.post(api.jobs + "/api/v1/jobs", "{\"name\":\"" + image + "\",\"source\":{\"type\":\"image\",\"image\":\""
                + engine.image + "\"},\"entrypoint\":[\"true\"]}", 201);
        String queue = queue("bench-containers", "local-container");
        int perSecond = Math.max(1, (int) Math.floor(rate / 2));
        int loadSeconds = quick ? 10 : 30;
        try (Processes.Agent agent = processes.agent("bench-agent-" + (++agents), List.of(queue), 64,
                work.resolve("workspaces"), engine.agentSettings())) {
            agent.awaitReady(Duration.ofMinutes(5));
            Api.Batch batch = api.openLoop(List.of(queue), "{\"job\":\"" + image + "\"}", perSecond, loadSeconds);
            boolean all = events.awaitEnded(batch.runIds(), Duration.ofMinutes(5));
            List<Double> running = new ArrayList<>();
            synchronized (batch.accepted) {
                for (Api.Sent sent : batch.accepted) {
                    RunEvents.Times t = events.of(sent.runId());
                    if (t.running != 0) {
                        running.add((t.running - sent.sentMicros()) / 1000.0);
                    }
                }
            }
            report.row(section, perSecond + " runs/s open loop for " + loadSeconds + " s (half the engine's rate): "
                    + "enqueue → RUNNING p50/p95/p99", Stats.of(running).ms() + " ms", batch.accepted.size()
                    + " accepted" + (all ? "" : ", not all ended in 5 min"));
        }
    }

    private static final String KUBERNETES = "Kubernetes (fabric8's mock API server, pods played by the benchmark)";
    private static final String SAGEMAKER = "SageMaker (the AWS SDK against a stub of the SageMaker and CloudWatch Logs "
            + "APIs)";

    private static long micros() {
        return java.time.temporal.ChronoUnit.MICROS.between(java.time.Instant.EPOCH, java.time.Instant.now());
    }

    /**
     * The kubernetes target against fabric8's mock API server in this JVM (no cluster can run here), its kubelet
     * played by the benchmark (a pod runs as soon as it is made, and ends a second later): enqueue → Job created
     * (its pod made) → RUNNING at 20 runs/s; then many Jobs running at once, watched by one agent: its CPU while it
     * only watches, its memory and threads.
     */
    private void kubernetes() throws Exception {
        step("kubernetes");
        try (dev.launch.devstack.KubernetesTestCluster cluster = new dev.launch.devstack.KubernetesTestCluster()) {
            Map<String, Long> created = new java.util.concurrent.ConcurrentHashMap<>();
            java.util.concurrent.atomic.AtomicLong lifeMs = new java.util.concurrent.atomic.AtomicLong(1000);
            java.util.concurrent.ScheduledExecutorService kubelet = java.util.concurrent.Executors
                    .newScheduledThreadPool(2);
            cluster.onPodCreated(pod -> {
                created.put(pod.getMetadata().getLabels().get("launch.run-id"), micros());
                kubelet.execute(() -> {
                    cluster.running(pod);
                    if (lifeMs.get() >= 0) {
                        kubelet.schedule(() -> cluster.terminated(pod, 0, "Completed"), lifeMs.get(),
                                java.util.concurrent.TimeUnit.MILLISECONDS);
                    }
                });
            });
            String image = "bench-k8s-" + Long.toString(System.currentTimeMillis(), 36);
            api.post(api.jobs + "/api/v1/jobs", "{\"name\":\"" + image + "\",\"source\":{\"type\":\"image\","
                    + "\"image\":\"trainer:1\"},\"entrypoint\":[\"python\",\"train.py\"]}", 201);
            String body = "{\"job\":\"" + image + "\"}";
            Map<String, String> settings = Map.of("LAUNCH_KUBERNETES_API_SERVER", cluster.url());
            String queue = kubernetesQueue("bench-k8s");
            int perSecond = 20;
            int loadSeconds = quick ? 10 : 30;
            try (Processes.Agent agent = processes.agent("bench-agent-" + (++agents), List.of(queue), 64,
                    work.resolve("workspaces"), settings)) {
                agent.awaitReady(Duration.ofMinutes(5));
                Api.Batch warm = api.closedLoop(List.of(queue), body, quick ? 20 : 100, 8);
                events.awaitEnded(warm.runIds(), Duration.ofMinutes(3));
                Api.Batch batch = api.openLoop(List.of(queue), body, perSecond, loadSeconds);
                boolean all = events.awaitEnded(batch.runIds(), Duration.ofMinutes(5));
                List<Double> toCreated = new ArrayList<>();
                List<Double> toRunning = new ArrayList<>();
                synchronized (batch.accepted) {
                    for (Api.Sent sent : batch.accepted) {
                        Long at = created.get(sent.runId());
                        if (at != null) {
                            toCreated.add((at - sent.sentMicros()) / 1000.0);
                        }
                        RunEvents.Times t = events.of(sent.runId());
                        if (t.running != 0) {
                            toRunning.add((t.running - sent.sentMicros()) / 1000.0);
                        }
                    }
                }
                String load = perSecond + " runs/s open loop for " + loadSeconds + " s";
                report.row(KUBERNETES, load + ": enqueue → Job created (its pod made) p50/p95/p99",
                        Stats.of(toCreated).ms() + " ms", batch.accepted.size() + " accepted"
                                + (all ? "" : ", not all ended in 5 min"));
                report.row(KUBERNETES, load + ": enqueue → RUNNING p50/p95/p99", Stats.of(toRunning).ms() + " ms",
                        "the pod runs as soon as it is made");
            }
            // many Jobs at once, running until told, watched by one agent
            int many = quick ? 200 : 1000;
            lifeMs.set(-1);
            String wide = kubernetesQueue("bench-k8s-many");
            try (Processes.Agent agent = processes.agent("bench-agent-" + (++agents), List.of(wide), many,
                    work.resolve("workspaces"), settings)) {
                agent.awaitReady(Duration.ofMinutes(5));
                long began = System.nanoTime();
                Api.Batch batch = api.closedLoop(List.of(wide), body, many, 32);
                long deadline = System.nanoTime() + Duration.ofMinutes(10).toNanos();
                while (batch.runIds().stream().filter(id -> events.of(id).running != 0).count() < many
                        && System.nanoTime() < deadline) {
                    Thread.sleep(200);
                }
                double allRunning = (System.nanoTime() - began) / 1e9;
                long running = batch.runIds().stream().filter(id -> events.of(id).running != 0).count();
                long pid = agent.process().pid();
                long cpuBefore = CpuMeter.millis(Files.readString(Path.of("/proc/" + pid + "/stat")));
                int watchSeconds = quick ? 10 : 30;
                Thread.sleep(watchSeconds * 1000L);
                long cpu = CpuMeter.millis(Files.readString(Path.of("/proc/" + pid + "/stat"))) - cpuBefore;
                String status = Files.readString(Path.of("/proc/" + pid + "/status"));
                String rss = field(status, "VmRSS");
                String threads = field(status, "Threads");
                report.row(KUBERNETES, many + " Jobs enqueued at once, one agent (max-jobs " + many + "): all RUNNING",
                        String.format("%.1f s", allRunning), running + " of " + many + " RUNNING");
                report.row(KUBERNETES, running + " Jobs running, watched by one agent for " + watchSeconds + " s",
                        String.format("%.1f%% of a core", cpu / 10.0 / watchSeconds), "agent RSS " + rss + ", "
                                + threads + " threads (informers: 3 per namespace for all Jobs)");
                long ending = System.nanoTime();
                for (var pod : cluster.client().pods().inNamespace("bench").list().getItems()) {
                    kubelet.execute(() -> cluster.terminated(pod, 0, "Completed"));
                }
                boolean ended = events.awaitEnded(batch.runIds(), Duration.ofMinutes(5));
                report.row(KUBERNETES, running + " Jobs ending at once: all FINISHED",
                        String.format("%.1f s", (System.nanoTime() - ending) / 1e9), ended ? "all ended" : "not all "
                                + "ended in 5 min");
            } finally {
                kubelet.shutdownNow();
            }
        }
    }

    /**
     * The sagemaker target with the real AWS SDK clients against the SageMaker and CloudWatch Logs stub in this JVM
     * (no AWS account here), with the agent's default poll settings: a job trains as soon as it is created and ends
     * a second later; enqueue → CreateTrainingJob accepted → RUNNING at 5 runs/s; then many training jobs watched
     * by one agent: the API calls it makes per minute, its CPU.
     */
    private void sageMaker() throws Exception {
        step("sagemaker");
        try (dev.launch.devstack.SageMakerStub stub = dev.launch.devstack.SageMakerStub.start()) {
            stub.autoTrainMs = 0;
            stub.autoCompleteMs = 1000;
            String image = "bench-sm-" + Long.toString(System.currentTimeMillis(), 36);
            api.post(api.jobs + "/api/v1/jobs", "{\"name\":\"" + image + "\",\"source\":{\"type\":\"image\","
                    + "\"image\":\"123456789012.dkr.ecr.us-east-1.amazonaws.com/trainer:1\"},"
                    + "\"entrypoint\":[\"python\",\"train.py\"]}", 201);
            String body = "{\"job\":\"" + image + "\"}";
            Map<String, String> settings = Map.of("AWS_ENDPOINT_URL_SAGEMAKER", stub.endpoint(),
                    "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", stub.endpoint(), "AWS_REGION", "us-east-1",
                    "AWS_ACCESS_KEY_ID", "AKIABENCH", "AWS_SECRET_ACCESS_KEY", "not-a-secret");
            String queue = sageMakerQueue("bench-sm");
            int perSecond = 5;
            int loadSeconds = quick ? 10 : 30;
            try (Processes.Agent agent = processes.agent("bench-agent-" + (++agents), List.of(queue), 64,
                    work.resolve("workspaces"), settings)) {
                agent.awaitReady(Duration.ofMinutes(5));
                Api.Batch warm = api.closedLoop(List.of(queue), body, quick ? 10 : 30, 4);
                events.awaitEnded(warm.runIds(), Duration.ofMinutes(3));
                Api.Batch batch = api.openLoop(List.of(queue), body, perSecond, loadSeconds);
                boolean all = events.awaitEnded(batch.runIds(), Duration.ofMinutes(5));
                List<Double> toCreated = new ArrayList<>();
                List<Double> toRunning = new ArrayList<>();
                synchronized (batch.accepted) {
                    for (Api.Sent sent : batch.accepted) {
                        Long at = stub.createdAtMicros("launch-" + sent.runId() + "-1");
                        if (at != null) {
                            toCreated.add((at - sent.sentMicros()) / 1000.0);
                        }
                        RunEvents.Times t = events.of(sent.runId());
                        if (t.running != 0) {
                            toRunning.add((t.running - sent.sentMicros()) / 1000.0);
                        }
                    }
                }
                String load = perSecond + " runs/s open loop for " + loadSeconds + " s";
                report.row(SAGEMAKER, load + ": enqueue → CreateTrainingJob accepted p50/p95/p99",
                        Stats.of(toCreated).ms() + " ms", batch.accepted.size() + " accepted"
                                + (all ? "" : ", not all ended in 5 min"));
                report.row(SAGEMAKER, load + ": enqueue → RUNNING p50/p95/p99", Stats.of(toRunning).ms() + " ms",
                        "the job trains as soon as it is created; poll-min 2 s (the default)");
            }
            // many training jobs at once, training until told, watched by one agent
            int many = quick ? 100 : 500;
            stub.autoCompleteMs = -1;
            String wide = sageMakerQueue("bench-sm-many");
            try (Processes.Agent agent = processes.agent("bench-agent-" + (++agents), List.of(wide), many,
                    work.resolve("workspaces"), settings)) {
                agent.awaitReady(Duration.ofMinutes(5));
                long began = System.nanoTime();
                Api.Batch batch = api.closedLoop(List.of(wide), body, many, 16);
                long deadline = System.nanoTime() + Duration.ofMinutes(10).toNanos();
                while (batch.runIds().stream().filter(id -> events.of(id).running != 0).count() < many
                        && System.nanoTime() < deadline) {
                    Thread.sleep(200);
                }
                double allRunning = (System.nanoTime() - began) / 1e9;
                long running = batch.runIds().stream().filter(id -> events.of(id).running != 0).count();
                report.row(SAGEMAKER, many + " jobs enqueued at once, one agent (max-jobs " + many + "): all RUNNING",
                        String.format("%.1f s", allRunning), running + " of " + many + " RUNNING");
                Thread.sleep(5000); // past the burst of first reads
                long pid = agent.process().pid();
                Map<String, Integer> before = stub.calls();
                long cpuBefore = CpuMeter.millis(Files.readString(Path.of("/proc/" + pid + "/stat")));
                int watchSeconds = quick ? 20 : 60;
                Thread.sleep(watchSeconds * 1000L);
                long cpu = CpuMeter.millis(Files.readString(Path.of("/proc/" + pid + "/stat"))) - cpuBefore;
                Map<String, Integer> after = stub.calls();
                StringBuilder perMinute = new StringBuilder();
                int total = 0;
                for (Map.Entry<String, Integer> e : after.entrySet()) {
                    int n = e.getValue() - before.getOrDefault(e.getKey(), 0);
                    if (n > 0) {
                        total += n;
                        perMinute.append(perMinute.length() == 0 ? "" : ", ").append(e.getKey()).append(' ')
                                .append(Math.round(n * 60.0 / watchSeconds));
                    }
                }
                String status = Files.readString(Path.of("/proc/" + pid + "/status"));
                report.row(SAGEMAKER, running + " jobs training, watched by one agent for " + watchSeconds
                                + " s: API calls per minute", String.valueOf(Math.round(total * 60.0 / watchSeconds)),
                        perMinute.toString());
                report.row(SAGEMAKER, running + " jobs training, watched by one agent: its CPU",
                        String.format("%.1f%% of a core", cpu / 10.0 / watchSeconds), "agent RSS "
                                + field(status, "VmRSS") + ", " + field(status, "Threads") + " threads");
                long ending = System.nanoTime();
                for (var job : stub.jobs()) {
                    if ("InProgress".equals(job.status)) {
                        stub.complete(job.name);
                    }
                }
                boolean ended = events.awaitEnded(batch.runIds(), Duration.ofMinutes(5));
                report.row(SAGEMAKER, running + " jobs completing at once: all FINISHED",
                        String.format("%.1f s", (System.nanoTime() - ending) / 1e9), ended ? "all ended (each "
                                + "tailed for its logs' quiet period, 5 s)" : "not all ended in 5 min");
            }
        }
    }

    private String sageMakerQueue(String name) throws Exception {
        api.post(api.queues + "/api/v1/queues", "{\"name\":\"" + name + "\",\"target\":{\"type\":\"sagemaker\","
                + "\"region\":\"us-east-1\",\"roleArn\":\"arn:aws:iam::123456789012:role/bench\"},\"config\":"
                + "{\"ResourceConfig\":{\"InstanceType\":\"ml.m5.xlarge\",\"InstanceCount\":1,\"VolumeSizeInGB\":10},"
                + "\"OutputDataConfig\":{\"S3OutputPath\":\"s3://bench/out\"},"
                + "\"StoppingCondition\":{\"MaxRuntimeInSeconds\":3600}}}", 201);
        return name;
    }

    private String kubernetesQueue(String name) throws Exception {
        api.post(api.queues + "/api/v1/queues", "{\"name\":\"" + name + "\",\"target\":{\"type\":\"kubernetes\","
                + "\"namespace\":\"bench\"},\"config\":{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":"
                + "\"train\",\"resources\":{\"limits\":{\"cpu\":1}}}]}}}}}", 201);
        return name;
    }

    /** A {@code Name:   value} line of {@code /proc/<pid>/status}. */
    private static String field(String status, String name) {
        return status.lines().filter(l -> l.startsWith(name + ":")).map(l -> l.substring(name.length() + 1).trim())
                .findFirst().orElse("?");
    }

    /** {@code breadthQueues} queues served by one agent: its start-up, then latency spread over them. */
    private void breadth() throws Exception {
        int count = sizes.breadthQueues();
        step("breadth, " + count + " queues");
        List<String> queues = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            queues.add(queue("bench-wide-" + i, "noop"));
        }
        Api.Batch first = api.closedLoop(queues, body(), count, 16);
        long start = System.nanoTime();
        String section = "Breadth (" + count + " queues, 1 agent serving all)";
        try (Processes.Agent agent = processes.agent("bench-agent-" + (++agents), queues, 64, work.resolve("workspaces"))) {
            agent.awaitReady(Duration.ofMinutes(10));
            double ready = (System.nanoTime() - start) / 1e9;
            boolean all = events.awaitEnded(first.runIds(), Duration.ofMinutes(10));
            double served = (System.nanoTime() - start) / 1e9;
            report.row(section, "agent start → ready", String.format("%.1f s", ready), "");
            report.row(section, "agent start → one waiting run on every queue FINISHED", String.format("%.1f s", served),
                    events.ended(first.runIds()) + " of " + count + (all ? "" : " (time limit hit)"));
            int rate = 20;
            Api.Batch batch = api.openLoop(queues, body(), rate, sizes.breadthSeconds());
            events.awaitEnded(batch.runIds(), Duration.ofMinutes(3));
            List<Double> running = new ArrayList<>();
            synchronized (batch.accepted) {
                for (Api.Sent sent : batch.accepted) {
                    long at = events.of(sent.runId()).running;
                    if (at != 0) {
                        running.add((at - sent.sentMicros()) / 1000.0);
                    }
                }
            }
            report.row(section, rate + " runs/s round-robin over the queues for " + sizes.breadthSeconds()
                    + " s: enqueue → RUNNING p50/p95/p99", Stats.of(running).ms() + " ms", "");
        }
    }

    private static final String SHARED = "Shared queue (local-process, agents at max-jobs 1)";
    /** the 1-agent time for 10 runs of {@code sleep 1}: what N agents with 10 runs each should match */
    private double oneAgentTenRuns = 10;

    /**
     * One queue shared by 1, 4, 6 and 16 agents at max-jobs 1 (a pool of one-GPU machines): 10 runs of
     * {@code sleep 1} per agent enqueued at once, first 202 → last FINISHED against the ideal of 10 s; then 100
     * runs of {@code true}, drained no slower with more agents. Also counts starts out of enqueue order (by
     * RUNNING time; ADR 0005: the takes are in queue order, the starts follow up to the agents' launch times).
     */
    private void sharedQueue() throws Exception {
        step("shared queue");
        Path code = work.resolve("job-code");
        String suffix = Long.toString(System.currentTimeMillis(), 36);
        String sleeper = "bench-sleep-" + suffix;
        api.post(api.jobs + "/api/v1/jobs", "{\"name\":\"" + sleeper + "\",\"source\":{\"type\":\"code\",\"artifact\":\""
                + code + "\"},\"entrypoint\":[\"sleep\",\"1\"]}", 201);
        for (int count : sharedAgents) {
            String queue = queue("bench-shared-" + count + "-" + suffix, "local-process");
            List<Processes.Agent> pool = new ArrayList<>();
            try {
                for (int i = 0; i < count; i++) {
                    // with the JVM settings `./launch agent` uses
                    pool.add(processes.agent("bench-agent-" + (++agents), List.of(queue), 1, work.resolve("workspaces"),
                            Map.of()));
                }
                for (Processes.Agent agent : pool) {
                    agent.awaitReady(Duration.ofMinutes(5));
                }
                awaitSettled(queue, count);
                // a few runs first, so every agent has launched once
                Api.Batch warm = api.closedLoop(List.of(queue), body(), 5 * count, 8);
                events.awaitEnded(warm.runIds(), Duration.ofMinutes(2));

                int runs = 10 * count;
                Map<String, Long> cpuBefore = CpuMeter.snapshot();
                Api.Batch batch = api.closedLoop(List.of(queue), "{\"job\":\"" + sleeper + "\"}", runs, 32);
                boolean all = events.awaitEnded(batch.runIds(), Duration.ofMinutes(5));
                Map<String, Long> cpu = CpuMeter.between(cpuBefore, CpuMeter.snapshot());
                double seconds = (lastEnded(batch) - batch.firstSentMicros) / 1e6;
                if (count == 1) {
                    oneAgentTenRuns = seconds;
                }
                report.row(SHARED, count + (count == 1 ? " agent" : " agents") + ", " + runs + " runs of `sleep 1`: "
                                + "first 202 → last FINISHED", String.format("%.1f s (%.2f × the ideal 10 s)", seconds,
                                seconds / 10), String.format("%.2f × one agent's 10 runs; %s; %s; %d of %d started "
                                + "before a run ahead of them in the queue%s", seconds / oneAgentTenRuns,
                        spread(batch, count), idle(batch), outOfOrder(batch), runs,
                        all ? "" : "; not all ended in 5 min"));

                cpuRow(SHARED, count + (count == 1 ? " agent" : " agents") + ", " + runs + " runs of `sleep 1`: CPU per "
                        + "run (ms of CPU time; the runs' own processes not counted)", cpu, runs, seconds);
                Api.Batch instant = api.closedLoop(List.of(queue), body(), 100, 32);
                all = events.awaitEnded(instant.runIds(), Duration.ofMinutes(5));
                seconds = (lastEnded(instant) - instant.firstSentMicros) / 1e6;
                report.row(SHARED, count + (count == 1 ? " agent" : " agents") + ", 100 runs of `true`: first 202 → "
                                + "last FINISHED", String.format("%.1f s", seconds), String.format("%.0f runs/s; %s; %s; "
                                + "%d of 100 started before a run ahead of them%s", 100 / seconds, spread(instant, count),
                        idle(instant), outOfOrder(instant), all ? "" : "; not all ended in 5 min"));
            } finally {
                pool.forEach(Processes.Agent::close);
            }
        }
    }

    private long lastEnded(Api.Batch batch) {
        return batch.runIds().stream().mapToLong(id -> events.of(id).ended).max().orElse(0);
    }

    /**
     * Runs that went RUNNING before a run ahead of them in the queue (by their items' offsets, the queue's
     * order) did.
     */
    private int outOfOrder(Api.Batch batch) {
        List<RunEvents.Times> byOffset = batch.runIds().stream().map(events::of).filter(t -> t.queueOffset >= 0)
                .sorted(Comparator.comparingLong(t -> t.queueOffset)).toList();
        int early = 0;
        long latest = 0;
        for (int i = byOffset.size() - 1; i >= 0; i--) {
            // walking back from the tail: a run that started after one behind it was passed by it
            long running = byOffset.get(i).running;
            if (running != 0 && latest != 0 && running > latest) {
                early++;
            }
            if (running != 0) {
                latest = latest == 0 ? running : Math.min(latest, running);
            }
        }
        return early;
    }

    /**
     * Where the time of a shared queue's runs went: an agent's idle time between the end of one of its runs and
     * the claim of its next, and claim → RUNNING (the take, the hand-off and the launch), p50/p95.
     */
    private String idle(Api.Batch batch) {
        Map<String, List<RunEvents.Times>> per = new HashMap<>();
        batch.runIds().stream().map(events::of).filter(t -> t.agent != null && t.claimed != 0 && t.ended != 0)
                .forEach(t -> per.computeIfAbsent(t.agent, a -> new ArrayList<>()).add(t));
        List<Double> gaps = new ArrayList<>();
        List<Double> launch = new ArrayList<>();
        per.values().forEach(runs -> {
            runs.sort(Comparator.comparingLong(t -> t.claimed));
            for (int i = 0; i < runs.size(); i++) {
                launch.add((runs.get(i).running - runs.get(i).claimed) / 1000.0);
                if (i > 0) {
                    gaps.add((runs.get(i).claimed - runs.get(i - 1).ended) / 1000.0);
                }
            }
        });
        Stats g = Stats.of(gaps);
        Stats l = Stats.of(launch);
        return String.format("idle between an agent's runs p50/p95 %.0f / %.0f ms, claim → RUNNING %.0f / %.0f ms",
                g.p50(), g.p95(), l.p50(), l.p95());
    }

    /** How many runs each agent ran: "min–max per agent". */
    private String spread(Api.Batch batch, int agentCount) {
        Map<String, Long> per = new HashMap<>();
        batch.runIds().forEach(id -> {
            String agent = events.of(id).agent;
            if (agent != null) {
                per.merge(agent, 1L, Long::sum);
            }
        });
        long min = per.size() < agentCount ? 0 : per.values().stream().mapToLong(Long::longValue).min().orElse(0);
        long max = per.values().stream().mapToLong(Long::longValue).max().orElse(0);
        return min + "–" + max + " runs per agent";
    }

    /** Waits until the queue's agent group is stable with {@code members} members, one holding the queue. */
    private void awaitSettled(String queue, int members) throws Exception {
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka))) {
            RunEvents.await(() -> {
                try {
                    var group = admin.describeConsumerGroups(List.of("launch.agents." + queue)).all()
                            .get(10, TimeUnit.SECONDS).get("launch.agents." + queue);
                    return group.groupState() == org.apache.kafka.common.GroupState.STABLE
                            && group.members().size() == members && group.members().stream()
                            .filter(m -> !m.assignment().topicPartitions().isEmpty()).count() == 1;
                } catch (Exception e) {
                    return false;
                }
            }, Duration.ofMinutes(2));
        }
    }

    private void ratios() {
        report.row("Ratios", "dispatch p50 (enqueue → RUNNING, 200 runs/s) / Kafka end-to-end p50 (its average "
                        + "when the p50 prints as 0 ms)",
                String.format("%.1f×", report.dispatchP50 / report.kafkaE2eP50),
                String.format("%.1f ms / %.1f ms", report.dispatchP50, report.kafkaE2eP50));
        report.row("Ratios", "throughput to FINISHED (1 queue) / Kafka produce rate",
                String.format("%.3f", report.throughputOneQueue / report.kafkaProduceRate),
                String.format("%,.0f runs/s / %,.0f records/s", report.throughputOneQueue, report.kafkaProduceRate));
        report.row("Ratios", "throughput to FINISHED (batch enqueues) / Kafka produce rate",
                String.format("%.3f", report.throughputBatched / report.kafkaProduceRate),
                String.format("%,.0f runs/s / %,.0f records/s", report.throughputBatched, report.kafkaProduceRate));
    }

    private static void step(String what) {
        System.out.println("== " + what + " (" + Instant.now() + ")");
    }

    private String machine() {
        String cpu = "unknown";
        try {
            cpu = Files.readAllLines(Path.of("/proc/cpuinfo")).stream().filter(l -> l.startsWith("model name"))
                    .map(l -> l.substring(l.indexOf(':') + 1).trim()).findFirst().orElse(cpu);
        } catch (IOException e) {
            // not Linux
        }
        String memory = "unknown";
        try {
            memory = Files.readAllLines(Path.of("/proc/meminfo")).stream().filter(l -> l.startsWith("MemTotal"))
                    .map(l -> String.format("%.1f GB", Long.parseLong(l.replaceAll("\\D", "")) / 1024.0 / 1024.0))
                    .findFirst().orElse(memory);
        } catch (IOException e) {
            // not Linux
        }
        return Runtime.getRuntime().availableProcessors() + " cores (" + cpu + "), " + memory + " RAM, "
                + System.getProperty("os.name") + " " + System.getProperty("os.version") + ", Java "
                + System.getProperty("java.version");
    }

    private String settings() {
        return String.join("\n",
                "- Everything on this one machine: the Kafka broker (single node, KRaft), PostgreSQL, the four services,"
                        + " the agents, the load generator and Kafka's tools share its cores.",
                "- The JVM settings of `./launch up` and `./launch agent` (one set in `launch`): agents (and, with their"
                        + " own archives, the services) run with `" + jvmOptions.replace(System.getProperty("user.dir"),
                        ".") + "`, the broker with `" + kafkaJvmOptions + "` (the full JIT: C1, then C2); agents at"
                        + " max-jobs 64 unless noted; runs on the `noop` target unless noted (the control plane alone),"
                        + " `local-process` runs `true`.",
                "- Latency is measured from the client's send of the enqueue request to the time the agent wrote on its"
                        + " CLAIMED and RUNNING facts (same clock); each latency run is preceded by a warm-up of "
                        + (quick ? 100 : 500) + " runs.",
                "- Sizes: " + sizes + (quick ? " (--quick: a smoke run, not the figures of record)" : ""));
    }
}
