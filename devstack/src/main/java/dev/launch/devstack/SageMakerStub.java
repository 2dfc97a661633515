package dev.launch.devstack;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Pattern;

/**
 * A stateful stand-in for the Amazon SageMaker and CloudWatch Logs JSON APIs (awsJson1_1: {@code POST /} with
 * {@code X-Amz-Target}, epoch-second timestamps, errors as {@code __type} plus {@code x-amzn-ErrorType}), for the
 * real AWS SDK clients in tests and benchmarks. One server answers both services.
 *
 * <p>SageMaker: CreateTrainingJob (names unique forever, SageMaker's name and RoleArn patterns, Environment values
 * of at most 512 characters), DescribeTrainingJob (a missing job is a ValidationException, as SageMaker says it),
 * StopTrainingJob (Stopping, then Stopped after {@link #stopDelayMs}), ListTrainingJobs (LastModifiedTimeAfter,
 * NameContains, StatusEquals, MaxResults and NextToken) and ListTags. CloudWatch Logs: DescribeLogStreams (by
 * prefix, paginated) and GetLogEvents (from head or a time, paginated; at the end the forward token repeats).
 *
 * <p>The test plays SageMaker's side: it moves jobs through their states ({@link #advance}), writes their
 * output ({@link #log}), and injects faults (failed creates, a create that commits and answers 500, a request
 * rate above which calls are throttled). Every call is counted by action.
 */
public final class SageMakerStub implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern NAME = Pattern.compile("[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}");
    private static final Pattern ROLE = Pattern.compile("arn:aws[a-z\\-]*:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+");
    public static final String LOG_GROUP = "/aws/sagemaker/TrainingJobs";
    public static final String ACCOUNT = "123456789012";

    /** One training job as SageMaker keeps it. */
    public static final class TrainingJob {
        public final String name;
        public final String arn;
        public final ObjectNode request;
        public final double created;
        volatile double lastModified;
        public volatile String status = "InProgress";
        public volatile String secondary = "Starting";
        public volatile String message = "Launching requested ML instances";
        public volatile String failureReason;
        public volatile boolean stopRequested;

        TrainingJob(String name, String region, ObjectNode request) {
            this.name = name;
            this.arn = "arn:aws:sagemaker:" + region + ":" + ACCOUNT + ":training-job/" + name.toLowerCase();
            this.request = request;
            this.created = now();
            this.lastModified = created;
        }

        /** The Environment it was created with. */
        public Map<String, String> environment() {
            Map<String, String> env = new LinkedHashMap<>();
            request.path("Environment").fields().forEachRemaining(e -> env.put(e.getKey(), e.getValue().asText()));
            return env;
        }

        /** Its tags by key. */
        public Map<String, String> tags() {
            Map<String, String> tags = new LinkedHashMap<>();
            request.path("Tags").forEach(t -> tags.put(t.path("Key").asText(), t.path("Value").asText()));
            return tags;
        }
    }

    private record Event(long timestamp, String message, long ingestion) {
    }

    private final HttpServer server;
    private final ScheduledExecutorService timers = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "sagemaker-stub-timers");
        t.setDaemon(true);
        return t;
    });
    private final Map<String, TrainingJob> jobs = new ConcurrentHashMap<>();
    private final Map<String, List<Event>> streams = new ConcurrentHashMap<>();
    private final Map<String, AtomicInteger> calls = new ConcurrentHashMap<>();
    private final Map<String, AtomicInteger> accepted = new ConcurrentHashMap<>();
    private final List<String> createFaults = new CopyOnWriteArrayList<>();
    private final AtomicInteger throttled = new AtomicInteger();
    private volatile int ratePerSecond;
    private final List<Long> recent = new ArrayList<>();
    /** How long StopTrainingJob leaves a job Stopping before it is Stopped. */
    public volatile long stopDelayMs = 200;
    /** For benchmarks: a created job trains after this many ms by itself ({@code -1}: only when told). */
    public volatile long autoTrainMs = -1;
    /** For benchmarks: a job that trains by itself completes after this many ms more ({@code -1}: only when told). */
    public volatile long autoCompleteMs = -1;
    private final Map<String, Long> createdAt = new ConcurrentHashMap<>();
    /** Events per GetLogEvents page, streams per DescribeLogStreams page: small, so pagination is exercised. */
    public volatile int logPage = 25;

    private SageMakerStub() throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 64);
        server.createContext("/", this::handle);
        server.setExecutor(Executors.newFixedThreadPool(4, r -> {
            Thread t = new Thread(r, "sagemaker-stub");
            t.setDaemon(true);
            return t;
        }));
        server.start();
    }

    public static SageMakerStub start() {
        try {
            return new SageMakerStub();
        } catch (IOException e) {
            throw new IllegalStateException("the SageMaker stub cannot listen", e);
        }
    }

    /** {@code http://127.0.0.1:<port>}: the endpoint of both services. */
    public String endpoint() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    private static double now() {
        return System.currentTimeMillis() / 1000.0;
    }

    // ---- the test's side -----------------------------------------------------------------------------------

    public TrainingJob job(String name) {
        return jobs.get(name);
    }

    public List<TrainingJob> jobs() {
        return List.copyOf(jobs.values());
    }

    /** Moves a job to {@code status}/{@code secondary} with SageMaker's status message. */
    public void advance(String name, String status, String secondary, String message) {
        TrainingJob job = require(name);
        synchronized (job) {
            job.status = status;
            job.secondary = secondary;
            job.message = message;
            job.lastModified = Math.max(now(), job.lastModified + 0.001);
        }
    }

    /** Training. */
    public void training(String name) {
        advance(name, "InProgress", "Training", "Training image download completed. Training in progress.");
    }

    public void complete(String name) {
        advance(name, "Completed", "Completed", "Training job completed");
    }

    /** Failed with {@code reason} (SageMaker's FailureReason, e.g. "AlgorithmError: ..."). */
    public void fail(String name, String reason) {
        TrainingJob job = require(name);
        job.failureReason = reason;
        advance(name, "Failed", "Failed", reason);
    }

    /** Appends lines to the job's log stream {@code <name>/<stream>} (created on first use). */
    public void log(String name, String stream, String... lines) {
        List<Event> events = streams.computeIfAbsent(name + "/" + stream, s -> new CopyOnWriteArrayList<>());
        synchronized (events) {
            long last = events.isEmpty() ? 0 : events.get(events.size() - 1).timestamp();
            for (String line : lines) {
                long ts = Math.max(System.currentTimeMillis(), last);
                events.add(new Event(ts, line, System.currentTimeMillis()));
                last = ts;
            }
        }
    }

    /** Appends lines after {@code delayMs}, as CloudWatch delivers what a job wrote just before it ended. */
    public void logLater(long delayMs, String name, String stream, String... lines) {
        timers.schedule(() -> log(name, stream, lines), delayMs, TimeUnit.MILLISECONDS);
    }

    /**
     * The next creates fail with {@code type} (e.g. ResourceLimitExceeded, ValidationException) and
     * {@code message}, and store nothing; {@code type} {@code commit-then-500} stores the job and answers 500.
     */
    public void failNextCreate(String type, String message) {
        createFaults.add(type + "\n" + message);
    }

    /** Forgets the create faults not taken yet. */
    public void clearFaults() {
        createFaults.clear();
    }

    /** Calls above {@code perSecond} (all actions) are answered ThrottlingException; 0: no limit. */
    public void limitRate(int perSecond) {
        ratePerSecond = perSecond;
    }

    public int throttled() {
        return throttled.get();
    }

    /** How many calls of {@code action} ({@code CreateTrainingJob}, {@code GetLogEvents} ...) were answered. */
    public int calls(String action) {
        AtomicInteger n = calls.get(action);
        return n == null ? 0 : n.get();
    }

    /** All calls answered, by action. */
    public Map<String, Integer> calls() {
        Map<String, Integer> all = new java.util.TreeMap<>();
        calls.forEach((k, v) -> all.put(k, v.get()));
        return all;
    }

    /** How many CreateTrainingJob calls for {@code name} were accepted (stored): one, always, is the promise. */
    public int acceptedCreates(String name) {
        AtomicInteger n = accepted.get(name);
        return n == null ? 0 : n.get();
    }

    /** When CreateTrainingJob for {@code name} was accepted, in microseconds since the epoch, or null. */
    public Long createdAtMicros(String name) {
        return createdAt.get(name);
    }

    private TrainingJob require(String name) {
        TrainingJob job = jobs.get(name);
        if (job == null) {
            throw new IllegalArgumentException("no training job " + name);
        }
        return job;
    }

    @Override
    public void close() {
        server.stop(0);
        timers.shutdownNow();
        ((java.util.concurrent.ExecutorService) server.getExecutor()).shutdownNow();
    }

    // ---- the API -------------------------------------------------------------------------------------------

    /** An AWS error answer. */
    private static final class Refusal extends RuntimeException {
        final int status;
        final String type;

        Refusal(int status, String type, String message) {
            super(message);
            this.status = status;
            this.type = type;
        }
    }

    private void handle(HttpExchange exchange) throws IOException {
        try (exchange) {
            String target = exchange.getRequestHeaders().getFirst("X-Amz-Target");
            byte[] in = exchange.getRequestBody().readAllBytes();
            int status = 200;
            JsonNode answer;
            String errorType = null;
            try {
                if (target == null || !"POST".equals(exchange.getRequestMethod())) {
                    throw new Refusal(400, "UnknownOperationException", "no X-Amz-Target");
                }
                String action = target.substring(target.indexOf('.') + 1);
                throttle();
                JsonNode request = in.length == 0 ? JSON.createObjectNode() : JSON.readTree(in);
                answer = target.startsWith("SageMaker.") ? sageMaker(action, (ObjectNode) request)
                        : target.startsWith("Logs_20140328.") ? logs(action, (ObjectNode) request)
                        : null;
                if (answer == null) {
                    throw new Refusal(400, "UnknownOperationException", "unknown operation " + target);
                }
                calls.computeIfAbsent(action, a -> new AtomicInteger()).incrementAndGet();
            } catch (Refusal r) {
                status = r.status;
                errorType = r.type;
                answer = JSON.createObjectNode().put("__type", r.type).put("message", r.getMessage());
                if (target != null) {
                    calls.computeIfAbsent(target.substring(target.indexOf('.') + 1) + ":" + r.type,
                            a -> new AtomicInteger()).incrementAndGet();
                }
            }
            byte[] out = JSON.writeValueAsBytes(answer);
            exchange.getResponseHeaders().set("Content-Type", "application/x-amz-json-1.1");
            exchange.getResponseHeaders().set("x-amzn-RequestId", java.util.UUID.randomUUID().toString());
            if (errorType != null) {
                exchange.getResponseHeaders().set("x-amzn-ErrorType", errorType);
            }
            exchange.sendResponseHeaders(status, out.length);
            exchange.getResponseBody().write(out);
        } catch (RuntimeException e) {
            // a bug of the stub: said where the test runs
            e.printStackTrace();
        }
    }

    private void throttle() {
        int limit = ratePerSecond;
        if (limit <= 0) {
            return;
        }
        long now = System.currentTimeMillis();
        synchronized (recent) {
            recent.removeIf(t -> t < now - 1000);
            if (recent.size() >= limit) {
                throttled.incrementAndGet();
                throw new Refusal(400, "ThrottlingException", "Rate exceeded");
            }
            recent.add(now);
        }
    }

    private JsonNode sageMaker(String action, ObjectNode request) {
        return switch (action) {
            case "CreateTrainingJob" -> create(request);
            case "DescribeTrainingJob" -> describe(found(request.path("TrainingJobName").asText()));
            case "StopTrainingJob" -> stop(found(request.path("TrainingJobName").asText()));
            case "ListTrainingJobs" -> list(request);
            case "ListTags" -> listTags(request.path("ResourceArn").asText());
            default -> null;
        };
    }

    private TrainingJob found(String name) {
        TrainingJob job = jobs.get(name);
        if (job == null) {
            throw new Refusal(400, "ValidationException", "Requested resource not found.");
        }
        return job;
    }

    private JsonNode create(ObjectNode request) {
        String name = request.path("TrainingJobName").asText();
        if (!NAME.matcher(name).matches()) {
            throw new Refusal(400, "ValidationException", "1 validation error detected: Value '" + name + "' at "
                    + "'trainingJobName' failed to satisfy constraint: Member must satisfy regular expression "
                    + "pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}");
        }
        if (!ROLE.matcher(request.path("RoleArn").asText()).matches()) {
            throw new Refusal(400, "ValidationException", "1 validation error detected: Value at 'roleArn' failed "
                    + "to satisfy constraint: Member must satisfy regular expression pattern");
        }
        for (String required : List.of("AlgorithmSpecification", "OutputDataConfig", "ResourceConfig",
                "StoppingCondition")) {
            if (!request.has(required)) {
                throw new Refusal(400, "ValidationException", "1 validation error detected: Value null at '"
                        + Character.toLowerCase(required.charAt(0)) + required.substring(1) + "' failed to satisfy "
                        + "constraint: Member must not be null");
            }
        }
        request.path("Environment").fields().forEachRemaining(e -> {
            if (e.getValue().asText().length() > 512) {
                throw new Refusal(400, "ValidationException", "Value at 'environment' failed to satisfy constraint: "
                        + "Map value must satisfy constraint: [Member must have length less than or equal to 512]");
            }
        });
        String fault = createFaults.isEmpty() ? null : createFaults.remove(0);
        String faultType = fault == null ? null : fault.substring(0, fault.indexOf('\n'));
        if (fault != null && !faultType.equals("commit-then-500")) {
            throw new Refusal(400, faultType, fault.substring(fault.indexOf('\n') + 1));
        }
        TrainingJob job = new TrainingJob(name, "us-east-1", request);
        TrainingJob existing = jobs.putIfAbsent(name, job);
        if (existing != null) {
            throw new Refusal(400, "ResourceInUse", "Training job names must be unique within an AWS account and "
                    + "region, and a training job with this name already exists (" + existing.arn + ")");
        }
        accepted.computeIfAbsent(name, n -> new AtomicInteger()).incrementAndGet();
        createdAt.put(name, java.time.temporal.ChronoUnit.MICROS.between(java.time.Instant.EPOCH,
                java.time.Instant.now()));
        long train = autoTrainMs;
        if (train >= 0) {
            timers.schedule(() -> {
                training(name);
                long complete = autoCompleteMs;
                if (complete >= 0) {
                    timers.schedule(() -> complete(name), complete, TimeUnit.MILLISECONDS);
                }
            }, train, TimeUnit.MILLISECONDS);
        }
        if (faultType != null) {
            throw new Refusal(500, "InternalFailure", "We encountered an internal error. Please try again.");
        }
        return JSON.createObjectNode().put("TrainingJobArn", job.arn);
    }

    private JsonNode describe(TrainingJob job) {
        ObjectNode out = JSON.createObjectNode();
        synchronized (job) {
            out.put("TrainingJobName", job.name).put("TrainingJobArn", job.arn)
                    .put("TrainingJobStatus", job.status).put("SecondaryStatus", job.secondary)
                    .put("CreationTime", job.created).put("LastModifiedTime", job.lastModified)
                    .put("RoleArn", job.request.path("RoleArn").asText());
            if (job.failureReason != null) {
                out.put("FailureReason", job.failureReason);
            }
            for (String copied : List.of("AlgorithmSpecification", "ResourceConfig", "StoppingCondition",
                    "OutputDataConfig", "Environment", "HyperParameters", "EnableManagedSpotTraining")) {
                if (job.request.has(copied)) {
                    out.set(copied, job.request.get(copied));
                }
            }
            out.putArray("SecondaryStatusTransitions").addObject().put("Status", job.secondary)
                    .put("StartTime", job.lastModified).put("StatusMessage", job.message);
        }
        return out;
    }

    private JsonNode stop(TrainingJob job) {
        synchronized (job) {
            if (!job.status.equals("InProgress")) {
                throw new Refusal(400, "ValidationException", "The job status is " + job.status);
            }
            job.stopRequested = true;
        }
        advance(job.name, "Stopping", "Stopping", "Stopping the training job");
        timers.schedule(() -> {
            if (job.status.equals("Stopping")) {
                advance(job.name, "Stopped", "Stopped", "The job was stopped");
            }
        }, stopDelayMs, TimeUnit.MILLISECONDS);
        return JSON.createObjectNode();
    }

    private JsonNode list(ObjectNode request) {
        double after = request.path("LastModifiedTimeAfter").asDouble(0);
        String contains = request.path("NameContains").asText("");
        String state = request.path("StatusEquals").asText("");
        int max = Math.min(100, request.path("MaxResults").asInt(10));
        int from = request.has("NextToken") ? Integer.parseInt(request.get("NextToken").asText()) : 0;
        List<TrainingJob> matching = jobs.values().stream()
                .filter(j -> j.lastModified > after && j.name.contains(contains)
                        && (state.isEmpty() || j.status.equals(state)))
                .sorted(Comparator.comparingDouble((TrainingJob j) -> j.created).reversed()
                        .thenComparing(j -> j.name))
                .toList();
        ObjectNode out = JSON.createObjectNode();
        ArrayNode summaries = out.putArray("TrainingJobSummaries");
        for (TrainingJob j : matching.subList(Math.min(from, matching.size()), Math.min(from + max, matching.size()))) {
            synchronized (j) {
                summaries.addObject().put("TrainingJobName", j.name).put("TrainingJobArn", j.arn)
                        .put("CreationTime", j.created).put("LastModifiedTime", j.lastModified)
                        .put("TrainingJobStatus", j.status).put("SecondaryStatus", j.secondary);
            }
        }
        if (from + max < matching.size()) {
            out.put("NextToken", String.valueOf(from + max));
        }
        return out;
    }

    private JsonNode listTags(String arn) {
        TrainingJob job = jobs.values().stream().filter(j -> j.arn.equals(arn)).findFirst()
                .orElseThrow(() -> new Refusal(400, "ValidationException", "Requested resource not found."));
        ObjectNode out = JSON.createObjectNode();
        out.set("Tags", job.request.path("Tags").isArray() ? job.request.get("Tags") : JSON.createArrayNode());
        return out;
    }

    private JsonNode logs(String action, ObjectNode request) {
        if (!LOG_GROUP.equals(request.path("logGroupName").asText())) {
            throw new Refusal(400, "ResourceNotFoundException", "The specified log group does not exist.");
        }
        return switch (action) {
            case "DescribeLogStreams" -> describeStreams(request);
            case "GetLogEvents" -> events(request);
            default -> null;
        };
    }

    private JsonNode describeStreams(ObjectNode request) {
        String prefix = request.path("logStreamNamePrefix").asText("");
        int from = request.has("nextToken") ? Integer.parseInt(request.get("nextToken").asText()) : 0;
        int page = Math.min(request.path("limit").asInt(50), logPage);
        List<String> names = streams.keySet().stream().filter(s -> s.startsWith(prefix)).sorted().toList();
        ObjectNode out = JSON.createObjectNode();
        ArrayNode list = out.putArray("logStreams");
        for (String name : names.subList(Math.min(from, names.size()), Math.min(from + page, names.size()))) {
            List<Event> events = streams.get(name);
            ObjectNode s = list.addObject().put("logStreamName", name).put("creationTime", events.isEmpty() ? 0
                    : events.get(0).timestamp());
            if (!events.isEmpty()) {
                s.put("lastEventTimestamp", events.get(events.size() - 1).timestamp())
                        .put("lastIngestionTime", events.get(events.size() - 1).ingestion());
            }
        }
        if (from + page < names.size()) {
            out.put("nextToken", String.valueOf(from + page));
        }
        return out;
    }

    /** Forward tokens are {@code f/<index of the next event>}: at the end the token given comes back. */
    private JsonNode events(ObjectNode request) {
        List<Event> events = streams.get(request.path("logStreamName").asText());
        if (events == null) {
            throw new Refusal(400, "ResourceNotFoundException", "The specified log stream does not exist.");
        }
        int from;
        if (request.has("nextToken")) {
            from = Integer.parseInt(request.get("nextToken").asText().substring(2));
        } else {
            long start = request.path("startTime").asLong(0);
            from = 0;
            while (from < events.size() && events.get(from).timestamp() < start) {
                from++;
            }
        }
        int page = Math.min(request.path("limit").asInt(10_000), logPage);
        int to = Math.min(events.size(), from + page);
        ObjectNode out = JSON.createObjectNode();
        ArrayNode list = out.putArray("events");
        for (Event e : events.subList(from, to)) {
            list.addObject().put("timestamp", e.timestamp()).put("message", e.message())
                    .put("ingestionTime", e.ingestion());
        }
        out.put("nextForwardToken", "f/" + to).put("nextBackwardToken", "b/" + from);
        return out;
    }
}
