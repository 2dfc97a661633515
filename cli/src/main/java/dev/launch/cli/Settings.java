package dev.launch.cli;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * Where the services are and how to talk to them, from the first of: the command's flags, {@code LAUNCH_*}
 * environment variables, the config file ({@code $LAUNCH_CONFIG}, else {@code $XDG_CONFIG_HOME/launch/config.yaml},
 * else {@code ~/.config/launch/config.yaml}), and the local stack's ports ({@code LAUNCH_{JOB,QUEUE,STATUS}_PORT},
 * as {@code ./launch up} uses them, else 8081, 8082, 8084 on 127.0.0.1).
 *
 * <pre>
 * # ~/.config/launch/config.yaml
 * jobUrl: http://launch.example.com:8081
 * queueUrl: http://launch.example.com:8082
 * statusUrl: http://launch.example.com:8084
 * token: ...        # sent as "Authorization: Bearer"
 * output: table     # table | json | yaml
 * </pre>
 */
public record Settings(URI jobUrl, URI queueUrl, URI statusUrl, String token, Output.Format output) {

    /** The flags of one command; null where not given. */
    public record Flags(String jobUrl, String queueUrl, String statusUrl, String token, Output.Format output) {
    }

    public static Settings resolve(Flags flags, Map<String, String> env) {
        JsonNode file = configFile(env);
        return new Settings(
                uri("job", first(flags.jobUrl(), env.get("LAUNCH_JOB_URL"), text(file, "jobUrl"),
                        local(env, "LAUNCH_JOB_PORT", 8081))),
                uri("queue", first(flags.queueUrl(), env.get("LAUNCH_QUEUE_URL"), text(file, "queueUrl"),
                        local(env, "LAUNCH_QUEUE_PORT", 8082))),
                uri("status", first(flags.statusUrl(), env.get("LAUNCH_STATUS_URL"), text(file, "statusUrl"),
                        local(env, "LAUNCH_STATUS_PORT", 8084))),
                first(flags.token(), env.get("LAUNCH_TOKEN"), text(file, "token")),
                flags.output() != null ? flags.output()
                        : Output.Format.parse(first(env.get("LAUNCH_OUTPUT"), text(file, "output"), "table")));
    }

    static Path configPath(Map<String, String> env) {
        if (notBlank(env.get("LAUNCH_CONFIG"))) {
            return Path.of(env.get("LAUNCH_CONFIG"));
        }
        if (notBlank(env.get("XDG_CONFIG_HOME"))) {
            return Path.of(env.get("XDG_CONFIG_HOME"), "launch", "config.yaml");
        }
        return Path.of(System.getProperty("user.home"), ".config", "launch", "config.yaml");
    }

    private static JsonNode configFile(Map<String, String> env) {
        Path path = configPath(env);
        if (!Files.isRegularFile(path)) {
            if (notBlank(env.get("LAUNCH_CONFIG"))) {
                throw CliException.usage("LAUNCH_CONFIG names " + path + ", which is not a file");
            }
            return null;
        }
        try {
            JsonNode config = Json.YAML.readTree(path.toFile());
            if (config != null && !config.isMissingNode() && !config.isNull() && !config.isObject()) {
                throw CliException.usage(path + " must be a mapping such as 'statusUrl: http://host:8084'");
            }
            return config;
        } catch (IOException e) {
            throw CliException.usage("cannot read " + path + ": " + e.getMessage());
        }
    }

    private static String text(JsonNode file, String field) {
        JsonNode value = file == null ? null : file.get(field);
        return value == null || value.isNull() ? null : value.asText();
    }

    private static String local(Map<String, String> env, String portVariable, int port) {
        return "http://127.0.0.1:" + first(env.get(portVariable), String.valueOf(port));
    }

    private static URI uri(String service, String value) {
        try {
            URI uri = URI.create(value.endsWith("/") ? value.substring(0, value.length() - 1) : value);
            if (uri.getScheme() == null || !uri.getScheme().startsWith("http") || uri.getHost() == null) {
                throw new IllegalArgumentException("not an http(s) URL");
            }
            return uri;
        } catch (IllegalArgumentException e) {
            throw CliException.usage("the " + service + " service's URL '" + value + "' is not an http(s) URL such as "
                    + "http://127.0.0.1:8084");
        }
    }

    private static String first(String... values) {
        for (String value : values) {
            if (notBlank(value)) {
                return value;
            }
        }
        return null;
    }

    private static boolean notBlank(String value) {
        return value != null && !value.isBlank();
    }
}
