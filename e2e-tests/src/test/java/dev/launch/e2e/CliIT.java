package dev.launch.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import static io.restassured.RestAssured.given;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The {@code launch} CLI as users run it — {@code ./launch COMMAND}, which hands the command to the Java CLI — against
 * the shared stack: each command's table and JSON, a followed run's exit code and last line, W&B Launch configs and
 * variables given as they are, and the server's own words when it refuses.
 */
class CliIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Path ROOT = Path.of(System.getProperty("launch.repo.root", "..")).toAbsolutePath().normalize();
    private static final String SCRIPT = """
            case "$LAUNCH_INPUTS" in
              *'"mode":"fail"'*) echo "about to fail"; echo "last words"; exit 3 ;;
              *'"mode":"sleep"'*) echo "sleeping"; sleep 120 ;;
              *) for i in 1 2 3; do echo "line $i"; done; echo "the last line" ;;
            esac
            """;

    private static LaunchStack stack;
    private static ServiceProcess agent;
    private static String suffix;
    private static String queue;
    private static String job;
    private static Path code;
    private static Path home;

    /** What one command printed, and its exit code. */
    record Result(int exit, String out, String err) {
        JsonNode json() {
            try {
                return JSON.readTree(out);
            } catch (IOException e) {
                throw new AssertionError("not JSON on stdout: " + out + "\nstderr: " + err, e);
            }
        }

        Result ok() {
            assertEquals(0, exit, () -> "exit code; stdout: " + out + "\nstderr: " + err);
            return this;
        }

        Result refused(String reason) {
            assertEquals(2, exit, () -> "exit code; stdout: " + out + "\nstderr: " + err);
            assertTrue(err.startsWith("launch: ") && err.contains(reason), () -> "the reason '" + reason
                    + "' on stderr: " + err);
            return this;
        }
    }

    @BeforeAll
    static void start() throws Exception {
        stack = LaunchStack.shared();
        suffix = UUID.randomUUID().toString().substring(0, 8);
        home = Files.createTempDirectory("e2e-cli-home"); // no config file of the machine's user is read
        code = Files.createTempDirectory("e2e-cli-code");
        Files.writeString(code.resolve("run.sh"), SCRIPT);
        Files.writeString(code.resolve("secret.env"), "TOKEN=stays-on-this-machine\n");
        Files.writeString(code.resolve(".launchignore"), "*.env\n");
        Files.writeString(code.resolve("inputs.json"), """
                {"type": "object", "properties": {"mode": {"enum": ["quick", "fail", "sleep"]}}}""");
        job = "cli-" + suffix;
        queue = "cli-" + suffix;
        cli("job", "create", job, "--code", code.toString(), "--inputs-schema", code.resolve("inputs.json").toString(),
                "--", "sh", "run.sh").ok();
        cli("queue", "create", queue, "--target", "local-process").ok();
        agent = stack.agent("cli-agent-" + suffix, 2, queue);
    }

    @AfterAll
    static void stop() {
        if (agent != null) {
            agent.close();
        }
    }

    static Result cli(String... args) {
        List<String> command = new ArrayList<>(List.of("bash", ROOT.resolve("launch").toString()));
        command.addAll(List.of(args));
        ProcessBuilder builder = new ProcessBuilder(command).directory(ROOT.toFile());
        Map<String, String> env = builder.environment();
        env.remove("XDG_CONFIG_HOME");
        env.remove("LAUNCH_CONFIG");
        env.remove("LAUNCH_TOKEN");
        env.remove("LAUNCH_OUTPUT");
        env.put("HOME", home.toString());
        env.put("LAUNCH_JOB_URL", stack.jobs.url());
        env.put("LAUNCH_QUEUE_URL", stack.queues.url());
        env.put("LAUNCH_STATUS_URL", stack.status.url());
        try {
            Path out = Files.createTempFile("cli-out", ".txt");
            Path err = Files.createTempFile("cli-err", ".txt");
            Process process = builder.redirectOutput(out.toFile()).redirectError(err.toFile()).start();
            if (!process.waitFor(3, TimeUnit.MINUTES)) {
                process.destroyForcibly();
                fail("launch " + String.join(" ", args) + " did not end within 3 minutes");
            }
            Result result = new Result(process.exitValue(), Files.readString(out), Files.readString(err));
            Files.delete(out);
            Files.delete(err);
            return result;
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private static Path write(String name, String content) throws IOException {
        Path file = code.resolveSibling(code.getFileName() + "-" + name);
        Files.writeString(file, content);
        return file;
    }

    private static Path fixture(String path) throws IOException {
        try (InputStream in = CliIT.class.getResourceAsStream("/wandb-configs/" + path)) {
            if (in == null) {
                throw new IllegalStateException("no fixture " + path);
            }
            return write(path.replace('/', '-'), new String(in.readAllBytes(), StandardCharsets.UTF_8));
        }
    }

    private static JsonNode tree(String json) {
        try {
            return JSON.readTree(json);
        } catch (IOException e) {
            throw new AssertionError(json, e);
        }
    }

    private static JsonNode run(String runId) {
        return cli("runs", "describe", runId, "-o", "json").ok().json();
    }

    private static void awaitState(String runId, String state) {
        await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(500))
                .until(() -> run(runId).path("state").asText(), state::equals);
    }

    @Test
    void jobsAreCreatedListedDescribedAndAliasedInTablesAndJson() {
        String other = "cli-job-" + suffix;
        assertEquals("Created " + other + ":1\n", cli("job", "create", other, "--code", code.toString(),
                "--description", "the CLI's own", "--", "sh", "run.sh", "--flag with space").ok().out());
        assertEquals("Unchanged: " + other + ":1 has this spec already\n", cli("job", "create", other, "--code",
                code.toString(), "--description", "the CLI's own", "--", "sh", "run.sh", "--flag with space").ok().out());
        // the directory went up as an upload (the job service need not see it), without what .launchignore names
        JsonNode first = cli("job", "describe", other + ":1", "-o", "json").ok().json();
        assertTrue(first.path("source").path("artifact").asText().startsWith("upload:sha256:"), first.toString());
        Path snapshot = Path.of(first.path("source").path("snapshot").asText());
        assertTrue(Files.isRegularFile(snapshot.resolve("run.sh")), snapshot.toString());
        assertTrue(!Files.exists(snapshot.resolve("secret.env")), "ignored by .launchignore");
        JsonNode created = cli("job", "create", other, "--image", "busybox:1.36", "-o", "json").ok().json();
        assertEquals(2, created.path("version").asInt(), "a changed spec is a new version: " + created);
        assertEquals("image", created.path("source").path("type").asText());

        String table = cli("job", "list", "--prefix", other).ok().out();
        assertTrue(table.startsWith("NAME") && table.lines().findFirst().orElse("").contains("VERSION  SOURCE"), table);
        assertTrue(table.lines().anyMatch(l -> l.startsWith(other + " ") && l.contains(" 2 ") && l.contains("image busybox:1.36")),
                table);
        JsonNode list = cli("job", "list", "--prefix", other, "-o", "json").ok().json();
        assertEquals(tree(given().get(stack.jobs.url() + "/api/v1/jobs?prefix=" + other).then().extract().asString()),
                list, "json is the API's answer");

        String described = cli("job", "describe", other + ":1").ok().out();
        assertTrue(described.contains("Version:") && described.contains("Entrypoint:    sh run.sh '--flag with space'")
                && described.contains("Description:   the CLI's own"), described);
        cli("job", "alias", other, "prod", "--version", "1").ok();
        assertEquals(1, cli("job", "describe", other + ":prod", "-o", "json").ok().json().path("version").asInt());
        assertTrue(cli("job", "alias", other).ok().out().lines().anyMatch(l -> l.matches("prod\\s+1")));
        assertTrue(cli("job", "describe", other, "-o", "yaml").ok().out().contains("name: " + other + "\n"));
        cli("job", "alias", other, "prod", "--delete").ok();
        cli("job", "describe", other + ":prod").refused("has no version or alias 'prod'");
        cli("job", "alias", other, "prod").refused("give either --version N");
        cli("job", "create", other, "--code", code.resolve("absent").toString()).refused("no such directory");
        cli("job", "create", other, "--code", code.toString(), "--image", "x").refused("mutually exclusive");
    }

    @Test
    void queuesAreCreatedDescribedEditedAndDeleted() {
        String q = "cli-q-" + suffix;
        assertEquals("Created queue " + q + " (noop)\n", cli("queue", "create", q, "--target", "noop", "--priorities",
                "--max-attempts", "2").ok().out());
        JsonNode list = cli("queue", "list", "--prefix", q, "-o", "json").ok().json();
        assertEquals(q, list.path("items").path(0).path("name").asText());
        assertTrue(cli("queue", "list", "--prefix", q).ok().out().lines()
                .anyMatch(l -> l.startsWith(q + " ") && l.contains("noop") && l.contains("yes")));
        String described = cli("queue", "describe", q).ok().out();
        assertTrue(described.contains("Priorities:    yes") && described.contains("Max attempts:  2")
                && described.contains("Queued:        0 (critical 0, high 0, medium 0, low 0)"), described);
        cli("queue", "edit", q, "--lockdown", "--max-attempts", "3").ok();
        JsonNode edited = cli("queue", "describe", q, "-o", "json").ok().json();
        assertTrue(edited.path("lockdown").asBoolean() && edited.path("maxAttempts").asInt() == 3, edited.toString());
        cli("queue", "edit", q, "--no-lockdown").ok();
        assertTrue(cli("queue", "describe", q).ok().out().contains("Lockdown:      no"));
        cli("queue", "edit", q).refused("nothing to change");
        cli("queue", "create", q, "--target", "noop").refused("already exists");
        cli("queue", "create", "Bad Name", "--target", "noop").refused("name");
        cli("queue", "delete", q).ok();
        cli("queue", "describe", q).refused(q);
    }

    @Test
    void aFollowedRunPrintsItsOutputToTheLastLineAndExitsWithHowItEnded() {
        Result finished = cli("run", "--queue", queue, "--job", job, "--follow");
        finished.ok();
        assertEquals("line 1\nline 2\nline 3\nthe last line\n", finished.out(), "stdout is the run's output");
        assertTrue(finished.err().contains(" RUNNING") && finished.err().contains("FINISHED, exit code 0"), finished.err());

        Result failed = cli("run", "--queue", queue, "--job", job, "--input", "mode=fail", "--follow");
        assertEquals(1, failed.exit(), failed::toString);
        assertEquals("about to fail\nlast words\n", failed.out());
        assertTrue(failed.err().contains("FAILED, exit code 3"), failed.err());

        cli("run", "--queue", queue, "--job", "no-such-" + suffix, "--follow").refused("no job named 'no-such-" + suffix + "'");
        cli("run", "--queue", queue, "--job", job, "--input", "mode=bogus", "--follow").refused("inputs.mode");
        cli("run", "--queue", queue).refused("--job");
    }

    @Test
    void runsAreListedDescribedLoggedStoppedAndReprioritized() {
        String runId = cli("run", "-q", queue, "-j", job, "-i", "mode=sleep").ok().out().strip();
        awaitState(runId, "RUNNING");
        Result stop = cli("runs", "stop", runId).ok();
        assertEquals("Stop requested for run " + runId + " (it was RUNNING)\n", stop.out());
        Result logs = cli("runs", "logs", runId, "--follow");
        assertEquals(1, logs.exit(), logs::toString);
        assertEquals("sleeping\n", logs.out());
        assertTrue(logs.err().contains("STOPPED"), logs.err());
        cli("runs", "stop", runId).refused("STOPPED");
        assertEquals("sleeping\n", cli("runs", "logs", runId).ok().out());

        String described = cli("runs", "describe", runId).ok().out();
        assertTrue(described.contains("State:") && described.contains("STOPPED") && described.contains("History:")
                && described.contains("  RUNNING"), described);
        assertEquals(tree(given().get(stack.status.url() + "/api/v1/runs/" + runId).then().extract().asString()),
                run(runId), "json is the API's answer");
        String table = cli("runs", "list", "--queue", queue, "--state", "STOPPED").ok().out();
        assertTrue(table.startsWith("RUN ") && table.lines().anyMatch(l -> l.startsWith(runId + "  " + queue)), table);
        assertEquals(runId, cli("runs", "list", "--queue", queue, "--state", "STOPPED", "-o", "json").ok().json()
                .path("items").path(0).path("runId").asText());

        String waiting = "cli-wait-" + suffix; // no agent serves it: its runs stay queued
        cli("queue", "create", waiting, "--target", "noop", "--priorities").ok();
        String low = cli("run", "-q", waiting, "-j", job, "--priority", "low").ok().out().strip();
        awaitState(low, "QUEUED");
        assertEquals("Run " + low + " is now high priority\n", cli("runs", "reprioritize", low, "--priority", "high").ok().out());
        await().atMost(Duration.ofSeconds(30)).until(() -> run(low).path("priority").asText(), "high"::equals);
        cli("runs", "reprioritize", low, "--priority", "urgent").refused("priority");
        cli("runs", "describe", UUID.randomUUID().toString()).refused("no run");

        JsonNode agents = cli("agents", "list", "--queue", queue, "-o", "json").ok().json();
        assertEquals("cli-agent-" + suffix, agents.path("items").path(0).path("agentId").asText());
        String agentTable = cli("agents", "list", "--queue", queue).ok().out();
        assertTrue(agentTable.startsWith("AGENT ") && agentTable.contains("cli-agent-" + suffix), agentTable);
    }

    /** Each config of the W&B collection, given to {@code queue create} as it is: accepted, or refused saying why. */
    @Test
    void everyWandbQueueConfigIsAcceptedOrRefusedWithItsReason() throws IOException {
        Map<String, String> expected = new java.util.LinkedHashMap<>();
        expected.put("kubernetes/01-docs-job-spec-basic.yaml", null);
        expected.put("kubernetes/02-docs-minikube-gpu-template-var.yaml", "uses {{gpus}}, which templateVariables does not declare");
        expected.put("kubernetes/03-docs-minikube-gpu-nfs.json", "volumeMounts: not a field of ResourceRequirements");
        expected.put("kubernetes/04-docs-volcano-job.yaml", null);
        expected.put("kubernetes/05-docs-kubeflow-pytorchjob-wrapped.yaml", null);
        expected.put("kubernetes/06-coreweave-gpu-node-affinity.yaml", null);
        expected.put("kubernetes/07-user-multicontainer-template-var.yaml", "shareProcessNamespace: refused");
        expected.put("kubernetes/08-wandb-skills-double-nested.json", "'<NAMESPACE>' is not a namespace name");
        expected.put("sagemaker/01-docs-default-createtrainingjob.json", "RoleArn: is a placeholder ([REQUIRED])");
        expected.put("sagemaker/02-docs-queue-template-before.yaml", "RoleArn: must be an IAM role ARN");
        expected.put("sagemaker/03-docs-queue-template-aws-instance.yaml", "RoleArn: must be an IAM role ARN");
        expected.put("sagemaker/04-wandb-tests-resource-args-macro.json", "blah: not a field of ResourceConfig");
        expected.put("common/queue-builder-accelerator.json", null);
        int i = 0;
        Map<String, String> wrong = new HashMap<>();
        for (Map.Entry<String, String> config : expected.entrySet()) {
            String target = config.getKey().startsWith("sagemaker") ? "sagemaker" : "kubernetes";
            String name = "cli-w" + (i++) + "-" + suffix;
            Result result = cli("queue", "create", name, "--target", target, "--config", fixture(config.getKey()).toString());
            boolean asExpected = config.getValue() == null ? result.exit() == 0 && result.out().startsWith("Created queue " + name)
                    : result.exit() == 2 && result.err().contains(config.getValue());
            if (!asExpected) {
                wrong.put(config.getKey(), "exit " + result.exit() + ": " + result.out() + result.err());
            }
        }
        assertEquals(Map.of(), wrong, "configs not accepted or refused as expected");

        // the Kubeflow config says where its manifest was found; 02 is accepted once its variable is declared
        assertTrue(cli("queue", "describe", "cli-w4-" + suffix).ok().out().contains("'kubernetes:' wrapper"));
        Path gpus = write("gpus.json", "[{\"name\": \"gpus\", \"schema\": \"{\\\"type\\\": \\\"integer\\\", \\\"minimum\\\": 0, "
                + "\\\"maximum\\\": 4}\"}]");
        cli("queue", "create", "cli-gpu-" + suffix, "--target", "kubernetes", "--config",
                fixture("kubernetes/02-docs-minikube-gpu-template-var.yaml").toString(), "--var-schema", gpus.toString()).ok();
        assertEquals("integer", cli("queue", "describe", "cli-gpu-" + suffix, "-o", "json").ok().json()
                .path("templateVariables").path("gpus").path("schema").path("type").asText());
    }

    /**
     * Template variables as W&B's API returns them (a list of {@code {name, schema}} whose schema is JSON text), and
     * {@code --set-var} cast as W&B's CLI casts it, with its error messages (template-variables/03's source).
     */
    @Test
    void templateVariablesInWandbsApiFormAreCastAsWandbCastsThem() throws IOException {
        String q = "cli-tv-" + suffix;
        Path config = write("tv-config.json", "{\"s\": \"{{test_str}}\", \"i\": \"{{test_int}}\", \"n\": \"{{test_num}}\"}");
        cli("queue", "create", q, "--target", "noop", "--config", config.toString(), "--var-schema",
                fixture("template-variables/03-as-returned-by-api.json").toString()).ok();
        String runId = cli("run", "-q", q, "-j", job, "--set-var", "test_str=str1", "--set-var", "test_int=2",
                "--set-var", "test_num=2.5").ok().out().strip();
        JsonNode resolved = run(runId).path("resolved");
        assertEquals("{\"test_str\":\"str1\",\"test_int\":2,\"test_num\":2.5}", resolved.path("templateVariables").toString());
        assertEquals("{\"s\":\"str1\",\"i\":2,\"n\":2.5}", resolved.path("config").toString());
        cli("run", "-q", q, "-j", job, "--set-var", "test_int=2.5").refused("Value for test_int must be of type integer.");
        cli("run", "-q", q, "-j", job, "--set-var", "test_num=abc").refused("Value for test_num must be of type number.");
        cli("run", "-q", q, "-j", job, "--set-var", "illegal_override=3")
                .refused("Queue " + q + " does not support overriding illegal_override.");
        cli("run", "-q", q, "-j", job, "--set-var", "test_str=str1,test_int=2,test_num=2.5")
                .refused("--set-var value must be in the format \"--set-var key1=value1\", instead got: "
                        + "test_str=str1,test_int=2,test_num=2.5");

        // template-variables/02: a string variable limited to an enum, on a local-container queue
        JsonNode call = JSON.readTree(Files.readString(fixture("template-variables/02-string-enum.json")))
                .path("create_run_queue");
        String enumQueue = "cli-enum-" + suffix;
        cli("queue", "create", enumQueue, "--target", call.path("type").asText(),
                "--config", write("enum-config.json", call.path("config").toString()).toString(),
                "--var-schema", write("enum-vars.json", call.path("template_variables").toString()).toString()).ok();
        String a = cli("run", "-q", enumQueue, "-j", job, "--set-var", "var1=a").ok().out().strip();
        assertEquals("{\"var1\":\"a\"}", run(a).path("resolved").path("templateVariables").toString());
        cli("run", "-q", enumQueue, "-j", job, "--set-var", "var1=c").refused("templateVariables.var1");
        cli("queue", "delete", enumQueue, "--force").ok();
    }

    @Test
    void theCliSaysWhereItLooksWhenNoServerAnswers() {
        List<String> command = List.of("bash", ROOT.resolve("launch").toString(), "runs", "list");
        ProcessBuilder builder = new ProcessBuilder(command).directory(ROOT.toFile());
        builder.environment().put("HOME", home.toString());
        builder.environment().put("LAUNCH_STATUS_URL", "http://127.0.0.1:9"); // discard: nothing listens
        try {
            Process p = builder.redirectErrorStream(true).start();
            String said = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(p.waitFor(60, TimeUnit.SECONDS));
            assertEquals(2, p.exitValue(), said);
            assertTrue(said.startsWith("launch: cannot reach the status service at http://127.0.0.1:9")
                    && said.contains("./launch up"), said);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
        assertTrue(cli("completion", "bash").ok().out().contains("complete -F _complete_launch"));
        String help = cli("run", "--help").ok().out();
        assertTrue(help.contains("Examples:") && help.contains("--follow"), help);
        assertTrue(cli("--version").ok().out().startsWith("launch "));
    }
}
