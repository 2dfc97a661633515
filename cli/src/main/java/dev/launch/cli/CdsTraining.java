package dev.launch.cli;

import com.sun.net.httpserver.HttpServer;

import java.io.OutputStream;
import java.io.PrintWriter;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The training run of the CLI's class-data archive ({@code ./launch} runs it once, with
 * {@code -XX:ArchiveClassesAtExit}, before the first command after a build): the commands people run most, against a
 * local stand-in server that answers what the services would, so the archive holds the HTTP client, the JSON and YAML
 * codecs and the table code as well as picocli. Archived, a {@code launch runs list} loads those classes from the
 * archive instead of the jar. Its output goes nowhere; a command that fails here only archives less.
 */
final class CdsTraining {
    private static final String RUN = "01a25000-0000-7000-8000-000000000001";
    private static final String AT = "2026-01-01T00:00:00Z";
    private static final String RUN_SUMMARY = """
            {"runId":"%s","queue":"train","job":"train","jobVersion":1,"state":"FINISHED","attempt":1,
             "agentId":"agent-1","target":{"type":"local-process","handle":"pid:1"},"exitCode":0,
             "createdAt":"%s","updatedAt":"%s\"""".formatted(RUN, AT, AT);
    private static final Map<String, String> ANSWERS = Map.of(
            "/api/v1/runs", "{\"items\":[" + RUN_SUMMARY + "}]}",
            "/api/v1/runs/" + RUN, RUN_SUMMARY + ",\"history\":[{\"state\":\"QUEUED\",\"at\":\"" + AT + "\"}],"
                    + "\"attempts\":[{\"attempt\":1,\"agents\":[\"agent-1\"],\"handle\":\"pid:1\","
                    + "\"outcome\":\"FINISHED\"}],\"resolved\":{\"command\":[\"true\"],\"inputs\":{}}}",
            "/api/v1/queues", "{\"items\":[{\"name\":\"train\",\"target\":{\"type\":\"local-process\"},"
                    + "\"prioritization\":false,\"lockdown\":false,\"updatedAt\":\"" + AT + "\"}]}",
            "/api/v1/jobs", "{\"items\":[{\"name\":\"train\",\"version\":1,\"source\":{\"type\":\"image\","
                    + "\"image\":\"busybox\"},\"createdAt\":\"" + AT + "\"}]}",
            "/api/v1/agents", "{\"items\":[{\"agentId\":\"agent-1\",\"queues\":[\"train\"],\"maxJobs\":1,"
                    + "\"running\":0,\"runs\":[],\"state\":\"POLLING\",\"lastHeartbeat\":\"" + AT + "\","
                    + "\"startedAt\":\"" + AT + "\",\"host\":\"host\",\"pid\":1}]}");

    private CdsTraining() {
    }

    public static void main(String[] args) throws Exception {
        HttpServer server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/", exchange -> {
            String answer = ANSWERS.get(exchange.getRequestURI().getPath());
            byte[] body = (answer == null ? "{\"title\":\"Not Found\",\"status\":404,\"detail\":\"no such thing\"}"
                    : answer).getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().add("Content-Type", answer == null ? "application/problem+json"
                    : "application/json");
            exchange.sendResponseHeaders(answer == null ? 404 : 200, body.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(body);
            }
        });
        server.start();
        String url = "http://127.0.0.1:" + server.getAddress().getPort();
        List<String> servers = List.of("--job-url", url, "--queue-url", url, "--status-url", url);
        PrintWriter nowhere = new PrintWriter(OutputStream.nullOutputStream());
        Map<String, String> env = new HashMap<>(System.getenv());
        env.keySet().removeIf(name -> name.startsWith("LAUNCH_"));
        try {
            for (List<String> command : List.of(List.of("runs", "list"), List.of("runs", "list", "-o", "json"),
                    List.of("runs", "list", "-o", "yaml"), List.of("runs", "describe", RUN), List.of("queue", "list"),
                    List.of("job", "list"), List.of("agents", "list"), List.of("runs", "describe", "missing"))) {
                List<String> line = new ArrayList<>(command);
                line.addAll(servers);
                Main.run(line.toArray(String[]::new), env, nowhere, nowhere);
            }
            Main.run(new String[]{"--version"}, env, nowhere, nowhere);
        } finally {
            server.stop(0);
        }
    }
}
