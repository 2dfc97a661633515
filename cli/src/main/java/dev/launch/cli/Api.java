package dev.launch.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.NullNode;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Predicate;

/**
 * The services' REST API as the CLI uses it. Every answer that is not 2xx ends the command with the server's own
 * words: the problem's {@code detail} and each offending field.
 */
public final class Api {
    public enum Service {
        JOB("job service"), QUEUE("queue service"), STATUS("status service");

        final String label;

        Service(String label) {
            this.label = label;
        }
    }

    /** An answer: its status, body and the headers the CLI reads. */
    public record Answer(int status, JsonNode body, HttpResponse<?> response) {
        public String header(String name) {
            return response.headers().firstValue(name).orElse(null);
        }
    }

    /** One Server-Sent Event: its name ({@code message} when the stream names none) and data. */
    public record Event(String name, String id, String data) {
    }

    private static final Duration CONNECT = Duration.ofSeconds(5);
    private static final Duration REQUEST = Duration.ofSeconds(30);

    private final Settings settings;
    private final HttpClient http;

    public Api(Settings settings) {
        this.settings = settings;
        this.http = HttpClient.newBuilder().connectTimeout(CONNECT).version(HttpClient.Version.HTTP_1_1).build();
    }

    /**
     * Ends the HTTP clients' selector threads, once the command is done: JDK 17's HttpClient cannot be closed, and
     * HotSpot's exit waits up to 300 ms for a thread in native code (the selector sits in epoll) — a third of a short
     * command's wall time. An interrupted selector thread leaves its loop and ends.
     */
    static void endHttpThreads() {
        for (Thread thread : Thread.getAllStackTraces().keySet()) {
            if (thread.getName().startsWith("HttpClient-") && thread.getName().endsWith("-SelectorManager")) {
                thread.interrupt();
                try {
                    thread.join(100);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
        }
    }

    public JsonNode get(Service service, String path) {
        return send(service, "GET", path, null, Map.of()).body();
    }

    public Answer send(Service service, String method, String path, JsonNode body, Map<String, String> headers) {
        HttpRequest.Builder request = request(service, path, headers).timeout(REQUEST)
                .header("Accept", "application/json");
        if (body != null) {
            request.header("Content-Type", "application/json")
                    .method(method, HttpRequest.BodyPublishers.ofString(body.toString()));
        } else {
            request.method(method, HttpRequest.BodyPublishers.noBody());
        }
        HttpResponse<String> response = call(service, request.build(), HttpResponse.BodyHandlers.ofString());
        JsonNode json = parse(response.body());
        if (response.statusCode() >= 300) {
            throw refused(service, response, json);
        }
        return new Answer(response.statusCode(), json, response);
    }

    /** A file sent as the body ({@code contentType}), streamed; the JSON answer. */
    public JsonNode sendFile(Service service, String path, java.nio.file.Path file, String contentType) {
        HttpRequest request;
        try {
            request = request(service, path, Map.of()).timeout(Duration.ofMinutes(10))
                    .header("Accept", "application/json").header("Content-Type", contentType)
                    .POST(HttpRequest.BodyPublishers.ofFile(file)).build();
        } catch (java.io.FileNotFoundException e) {
            throw CliException.usage("cannot read " + file + ": " + e.getMessage());
        }
        HttpResponse<String> response = call(service, request, HttpResponse.BodyHandlers.ofString());
        JsonNode json = parse(response.body());
        if (response.statusCode() >= 300) {
            throw refused(service, response, json);
        }
        return json;
    }

    /** A text answer (a run's logs) and its headers. */
    public HttpResponse<String> text(Service service, String path, Map<String, String> headers) {
        HttpRequest request = request(service, path, headers).timeout(REQUEST).header("Accept", "text/plain").GET()
                .build();
        HttpResponse<String> response = call(service, request, HttpResponse.BodyHandlers.ofString());
        if (response.statusCode() >= 300) {
            throw refused(service, response, parse(response.body()));
        }
        return response;
    }

    /**
     * Reads a Server-Sent Events stream, handing each event to {@code onEvent} until it answers false or the stream
     * ends; true when the stream ended by itself.
     */
    public boolean events(Service service, String path, Map<String, String> headers, Predicate<Event> onEvent) {
        HttpRequest request = request(service, path, headers).header("Accept", "text/event-stream").GET().build();
        HttpResponse<InputStream> response = call(service, request, HttpResponse.BodyHandlers.ofInputStream());
        try (InputStream body = response.body();
             BufferedReader lines = new BufferedReader(new InputStreamReader(body, StandardCharsets.UTF_8))) {
            if (response.statusCode() >= 300) {
                throw refused(service, response, parse(new String(body.readAllBytes(), StandardCharsets.UTF_8)));
            }
            String name = null;
            String id = null;
            StringBuilder data = new StringBuilder();
            String line;
            while ((line = lines.readLine()) != null) {
                if (line.isEmpty()) {
                    if (data.length() > 0 && !onEvent.test(new Event(name == null ? "message" : name, id,
                            data.toString()))) {
                        return false;
                    }
                    name = null;
                    data.setLength(0);
                } else if (line.startsWith("data:")) {
                    if (data.length() > 0) {
                        data.append('\n');
                    }
                    data.append(field(line, 5));
                } else if (line.startsWith("event:")) {
                    name = field(line, 6);
                } else if (line.startsWith("id:")) {
                    id = field(line, 3);
                }
            }
            return true;
        } catch (IOException e) {
            throw new CliException(CliException.USAGE, "the " + service.label + "'s event stream broke: " + e.getMessage());
        }
    }

    public static String query(Map<String, ?> parameters) {
        StringBuilder query = new StringBuilder();
        parameters.forEach((name, value) -> {
            if (value != null) {
                query.append(query.length() == 0 ? '?' : '&').append(name).append('=')
                        .append(URLEncoder.encode(String.valueOf(value), StandardCharsets.UTF_8));
            }
        });
        return query.toString();
    }

    public static String segment(String value) {
        return URLEncoder.encode(value, StandardCharsets.UTF_8).replace("+", "%20");
    }

    public static Map<String, Object> params() {
        return new LinkedHashMap<>();
    }

    private static String field(String line, int from) {
        return line.length() > from && line.charAt(from) == ' ' ? line.substring(from + 1) : line.substring(from);
    }

    private HttpRequest.Builder request(Service service, String path, Map<String, String> headers) {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(base(service) + path));
        if (settings.token() != null) {
            request.header("Authorization", "Bearer " + settings.token());
        }
        headers.forEach(request::header);
        return request;
    }

    private URI base(Service service) {
        return switch (service) {
            case JOB -> settings.jobUrl();
            case QUEUE -> settings.queueUrl();
            case STATUS -> settings.statusUrl();
        };
    }

    private <T> HttpResponse<T> call(Service service, HttpRequest request, HttpResponse.BodyHandler<T> handler) {
        try {
            return http.send(request, handler);
        } catch (HttpConnectTimeoutException | ConnectException e) {
            throw CliException.usage("cannot reach the " + service.label + " at " + base(service) + " (is Launch "
                    + "running? './launch up' starts it; LAUNCH_" + service.name() + "_URL or --" + service.name()
                    .toLowerCase() + "-url says where it is)");
        } catch (HttpTimeoutException e) {
            throw CliException.usage("the " + service.label + " at " + base(service) + " did not answer "
                    + request.method() + " " + request.uri().getPath() + " within " + REQUEST.toSeconds() + " s");
        } catch (IOException e) {
            throw CliException.usage("talking to the " + service.label + " at " + base(service) + " failed: "
                    + (e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage()));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new UncheckedIOException(new IOException("interrupted"));
        }
    }

    private static JsonNode parse(String text) {
        try {
            return text == null || text.isBlank() ? NullNode.instance : Json.JSON.readTree(text);
        } catch (IOException e) {
            return Json.JSON.getNodeFactory().textNode(text);
        }
    }

    /** The server's refusal in its own words: the problem's detail (else its title), then each offending field. */
    static Refused refused(Service service, HttpResponse<?> response, JsonNode problem) {
        long retryAfter = response.headers().firstValue("Retry-After").map(v -> {
            try {
                return Long.parseLong(v.trim());
            } catch (NumberFormatException e) {
                return 1L;
            }
        }).orElse(-1L);
        return refused(service, response.statusCode(), retryAfter, problem);
    }

    static Refused refused(Service service, int status, long retryAfter, JsonNode problem) {
        StringBuilder message = new StringBuilder();
        if (problem.hasNonNull("detail")) {
            message.append(problem.get("detail").asText());
        } else if (problem.hasNonNull("title")) {
            message.append(problem.get("title").asText());
        } else if (problem.isTextual() && !problem.asText().isBlank()) {
            message.append(problem.asText().strip());
        } else {
            message.append("the ").append(service.label).append(" answered HTTP ").append(status);
        }
        for (JsonNode error : problem.path("errors")) {
            String field = error.path("field").asText() + ": " + error.path("message").asText();
            if (problem.path("errors").size() == 1 && message.toString().equals(field)) {
                break; // the detail is this one error already
            }
            message.append("\n  ").append(error.path("field").asText()).append(": ").append(error.path("message").asText());
        }
        return new Refused(status, retryAfter, message.toString());
    }

    /** A non-2xx answer: its status and, on 503 and 429, how many seconds to wait before asking again (else -1). */
    public static final class Refused extends CliException {
        private final int status;
        private final long retryAfter;

        Refused(int status, long retryAfter, String message) {
            super(USAGE, message);
            this.status = status;
            this.retryAfter = retryAfter;
        }

        public int status() {
            return status;
        }

        public long retryAfter() {
            return retryAfter;
        }
    }
}
