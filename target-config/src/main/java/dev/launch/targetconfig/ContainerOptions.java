package dev.launch.targetconfig;

import com.fasterxml.jackson.databind.JsonNode;
import dev.launch.common.problem.Problem;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The config of a {@code local-container} queue: W&amp;B Launch's local-container resource arguments, a map of
 * {@code docker run} options, turned into engine flags by W&amp;B's rules — a one-letter key is {@code -k}, any
 * other {@code --key}; a list repeats the flag; {@code true} is a bare flag; anything else {@code --key value} —
 * except that {@code _} in a key reads as {@code -} (W&amp;B passes {@code shm_size} through as
 * {@code --shm_size}, which docker refuses) and {@code false} drops the flag.
 *
 * <p>Options are checked against an allow-list: the queue service checks the template when a queue is created
 * or changed, and the agent checks the filled-in config again before it creates a container (a variable's
 * value cannot turn a safe option into a dangerous one). An option outside the list, a host namespace, the host
 * network (it reaches the unauthenticated local Kafka), or a volume of {@code /} or of the engine's socket is
 * refused unless the queue's {@code target.allow} names it ({@code "privileged"}, {@code "network=host"},
 * {@code "volume=/var/run/docker.sock"}).
 */
public final class ContainerOptions {
    /** Keys taken but not passed as flags: Launch removes its containers itself; builds come later. */
    public static final Set<String> IGNORED = Set.of("rm", "builder");

    /** Options passed as they are (their long names; short forms are mapped by {@link #SHORT}). */
    static final Set<String> SAFE = Set.of("volume", "env", "env-file", "gpus", "shm-size", "runtime", "memory",
            "memory-swap", "memory-reservation", "cpus", "cpu-shares", "cpuset-cpus", "cpuset-mems", "ulimit",
            "network", "net", "label", "user", "workdir", "hostname", "add-host", "dns", "dns-search", "tmpfs",
            "read-only", "init", "stop-signal", "stop-timeout", "publish", "expose", "platform", "pids-limit",
            "group-add", "oom-score-adj", "log-opt", "log-driver", "tty", "pull");

    /** One-letter forms of the options above. */
    static final Map<String, String> SHORT = Map.of("v", "volume", "e", "env", "m", "memory", "l", "label",
            "u", "user", "w", "workdir", "h", "hostname", "p", "publish", "t", "tty");

    /** Options that share the host's namespaces when their value is {@code host}. */
    private static final Set<String> NAMESPACES = Set.of("network", "net", "pid", "ipc", "uts", "userns", "cgroupns");

    /** Options Launch sets itself. */
    private static final Set<String> RESERVED = Set.of("name", "entrypoint", "detach", "interactive", "restart",
            "cidfile", "attach");

    private ContainerOptions() {
    }

    /** One option as it will be passed: its long name and its values (none for a bare flag). */
    public record Option(String key, String name, List<String> values) {
    }

    /** The options of {@code config} in order, {@code _} read as {@code -}, ignored keys and {@code false} left out. */
    public static List<Option> parse(JsonNode config) {
        List<Option> options = new ArrayList<>();
        if (config == null || !config.isObject()) {
            return options;
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = config.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String name = normalise(e.getKey());
            if (IGNORED.contains(name)) {
                continue;
            }
            JsonNode value = e.getValue();
            List<String> values = new ArrayList<>();
            if (value.isBoolean()) {
                if (!value.asBoolean()) {
                    continue;
                }
            } else if (value.isArray()) {
                value.forEach(v -> values.add(v.isValueNode() ? v.asText() : v.toString()));
            } else if (value.isNull()) {
                continue;
            } else {
                values.add(value.isValueNode() ? value.asText() : value.toString());
            }
            options.add(new Option(e.getKey(), name, values));
        }
        return options;
    }

    /** The engine flags for {@code config}, by the rules above. */
    public static List<String> flags(JsonNode config) {
        List<String> flags = new ArrayList<>();
        for (Option o : parse(config)) {
            String flag = o.name().length() == 1 ? "-" + o.name() : "--" + o.name();
            if (o.values().isEmpty()) {
                flags.add(flag);
            }
            for (String v : o.values()) {
                flags.add(flag);
                flags.add(v);
            }
        }
        return flags;
    }

    /**
     * What is wrong with {@code config} under the queue's {@code allow} list; each error names the option as
     * {@code config.<key>}. Empty when every option may be passed.
     */
    public static List<Problem.FieldError> check(JsonNode config, Set<String> allow) {
        List<Problem.FieldError> errors = new ArrayList<>();
        if (config != null && !config.isObject()) {
            errors.add(new Problem.FieldError("config", "must be a JSON object of docker run options, e.g. "
                    + "{\"gpus\": \"all\", \"shm_size\": \"2g\", \"volume\": [\"/data:/data:ro\"]}"));
            return errors;
        }
        if (config != null && config.has("builder") && !config.get("builder").isObject()) {
            errors.add(new Problem.FieldError("config.builder", "must be an object (it is kept for image builds)"));
        }
        for (Option o : parse(config)) {
            String field = "config." + o.key();
            String name = SHORT.getOrDefault(o.name(), o.name());
            if (RESERVED.contains(name)) {
                errors.add(new Problem.FieldError(field, "Launch sets --" + name + " itself (the container is "
                        + "named after the run and its entrypoint is the job's); remove it"));
                continue;
            }
            if (allow.contains(name)) {
                continue;
            }
            if (NAMESPACES.contains(name)) {
                for (String v : o.values()) {
                    if (v.toLowerCase(Locale.ROOT).startsWith("host") || v.startsWith("container:")) {
                        if (!allow.contains(name + "=" + v)) {
                            errors.add(new Problem.FieldError(field, "--" + name + " " + v + " shares the host's "
                                    + (name.startsWith("net") ? "network (it reaches the local Kafka, which has "
                                    + "no authentication)" : name + " namespace") + "; refused unless the queue's "
                                    + "target.allow names \"" + name + "=" + v + "\""));
                        }
                    }
                }
                if (!SAFE.contains(name)) {
                    if (o.values().stream().noneMatch(v -> v.toLowerCase(Locale.ROOT).startsWith("host")
                            || v.startsWith("container:"))) {
                        errors.add(new Problem.FieldError(field, "--" + name + " is refused unless the queue's "
                                + "target.allow names \"" + name + "\""));
                    }
                }
                continue;
            }
            if (!SAFE.contains(name)) {
                errors.add(new Problem.FieldError(field, "--" + name + " is not an option Launch passes to the "
                        + "container engine" + (DANGEROUS.contains(name) ? " (it weakens the container's isolation)"
                        : "") + "; refused unless the queue's target.allow names \"" + name + "\""));
                continue;
            }
            if (name.equals("volume")) {
                for (String v : o.values()) {
                    String source = v.split(":", 2)[0];
                    if (isHostRootOrSocket(source) && !allow.contains("volume=" + source)) {
                        errors.add(new Problem.FieldError(field, "the volume " + v + " mounts "
                                + (source.replaceAll("/+$", "").isEmpty() ? "the host's root" : "a socket of the host "
                                + "(the container engine's, which gives root on the host)") + "; refused unless the "
                                + "queue's target.allow names \"volume=" + source + "\""));
                    }
                }
            }
        }
        return errors;
    }

    /** Options known to weaken isolation, named in the refusal. */
    private static final Set<String> DANGEROUS = Set.of("privileged", "cap-add", "device", "security-opt", "mount",
            "volumes-from", "device-cgroup-rule", "sysctl");

    private static boolean isHostRootOrSocket(String source) {
        String s = source.replaceAll("/+$", "");
        return s.isEmpty() && source.startsWith("/") || s.endsWith(".sock") || s.equals("/var/run") || s.equals("/run")
                || s.endsWith("/docker.sock") || s.endsWith("/podman.sock") || s.equals("/var/run/docker")
                || s.equals("/run/podman");
    }

    /** {@code shm_size} → {@code shm-size}; the key as written otherwise, lower-cased. */
    static String normalise(String key) {
        return key.trim().replace('_', '-').toLowerCase(Locale.ROOT);
    }
}
