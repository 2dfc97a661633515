package dev.launch.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Hostile input, drawn from one seeded {@link Random} so a failing input is made again by its seed and try:
 * JSON values of every type and size, strings that mean something somewhere (paths, templates, SQL, markup,
 * NUL and control characters, right-to-left marks, lone surrogates), bodies that are a valid body with one part
 * replaced, removed, repeated or cut, bytes that are no JSON at all, and header values.
 */
final class Hostile {
    static final ObjectMapper JSON = new ObjectMapper();
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;
    private static final List<String> MEANINGFUL = List.of(
            "", " ", "../../../../etc/passwd", "/etc/hostname", "..", "%2e%2e%2f", "file:///etc/shadow",
            "{{gpus}}", "{{ config }}", "${run_id}", "${HOME}", "$(id)", "`id`", "'; DROP TABLE run; --",
            "\" OR 1=1 --", "<script>alert(1)</script>", "\u0000", "a\u0000b", "\u202Eevil", "\uD800", "\uFFFF",
            "\r\nX-Injected: 1", "%00", "\\", "null", "true", "-1", "1e309", "NaN", "Infinity", "0x10",
            "upload:sha256:" + "0".repeat(64), "sha256:" + "f".repeat(64), "name:alias:extra", "UPPER",
            "-leading", "a".repeat(254), "日本語", "🚀🚀", "\t", "default", "latest", "*", "?", "#", "&", "=");

    final long seed;
    final Random random;

    Hostile(long seed) {
        this.seed = seed;
        this.random = new Random(seed);
    }

    /** A string, often one that means something to some layer. */
    String string() {
        return switch (random.nextInt(6)) {
            case 0, 1 -> MEANINGFUL.get(random.nextInt(MEANINGFUL.size()));
            case 2 -> randomChars(1 + random.nextInt(40));
            case 3 -> "x".repeat(1 << (8 + random.nextInt(10))); // 256 B to 128 KiB
            case 4 -> MEANINGFUL.get(random.nextInt(MEANINGFUL.size())) + randomChars(random.nextInt(8));
            default -> "hostile-" + Long.toHexString(random.nextLong());
        };
    }

    private String randomChars(int n) {
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < n; i++) {
            int kind = random.nextInt(4);
            out.append(switch (kind) {
                case 0 -> (char) random.nextInt(32);          // control characters, NUL among them
                case 1 -> (char) (0x20 + random.nextInt(95)); // printable ASCII
                case 2 -> (char) (0x80 + random.nextInt(0x780));
                default -> (char) random.nextInt(0x10000);   // anything, lone surrogates too
            });
        }
        return out.toString();
    }

    /** A JSON value of any type, nested up to {@code depth}. */
    JsonNode value(int depth) {
        int kinds = depth <= 0 ? 6 : 8;
        return switch (random.nextInt(kinds)) {
            case 0 -> NODES.textNode(string());
            case 1 -> NODES.numberNode(switch (random.nextInt(5)) {
                case 0 -> (long) random.nextInt();
                case 1 -> Long.MAX_VALUE;
                case 2 -> Long.MIN_VALUE;
                case 3 -> 0L;
                default -> -1L;
            });
            case 2 -> NODES.numberNode(random.nextBoolean() ? random.nextDouble() * 1e300 : -0.5);
            case 3 -> NODES.numberNode(new java.math.BigInteger("9".repeat(1 + random.nextInt(60))));
            case 4 -> NODES.booleanNode(random.nextBoolean());
            case 5 -> NODES.nullNode();
            case 6 -> {
                ArrayNode array = NODES.arrayNode();
                for (int i = random.nextInt(4); i > 0; i--) {
                    array.add(value(depth - 1));
                }
                yield array;
            }
            default -> {
                ObjectNode object = NODES.objectNode();
                for (int i = random.nextInt(4); i > 0; i--) {
                    object.set(string().length() > 64 ? "k" : string(), value(depth - 1));
                }
                yield object;
            }
        };
    }

    /** {@code depth} levels of arrays or objects around one value: past the services' bound of 64 when asked. */
    String deep(int depth) {
        boolean arrays = random.nextBoolean();
        return (arrays ? "[" : "{\"a\":").repeat(depth) + "1" + (arrays ? "]" : "}").repeat(depth);
    }

    /**
     * The text of a body: usually {@code valid} with one part changed (a field's value replaced by any value, a
     * field removed, an unknown field added, a field given twice, nested too deep), sometimes cut short, another
     * JSON value whole, or no JSON at all.
     */
    String body(ObjectNode valid) {
        int kind = random.nextInt(12);
        if (kind == 0) {
            String text = valid.toString();
            return text.substring(0, random.nextInt(text.length()));
        }
        if (kind == 1) {
            return value(3).toString();
        }
        if (kind == 2) {
            return randomChars(random.nextInt(64));
        }
        if (kind == 3) {
            return valid.toString();
        }
        ObjectNode body = valid.deepCopy();
        List<String> paths = new ArrayList<>();
        fields(body, "", paths);
        String path = paths.isEmpty() ? "" : paths.get(random.nextInt(paths.size()));
        ObjectNode parent = parentOf(body, path);
        String field = path.substring(path.lastIndexOf('/') + 1);
        switch (kind) {
            case 4, 5, 6 -> parent.set(field, value(3));
            case 7 -> parent.remove(field);
            case 8 -> parent.set(string(), value(2));
            case 9 -> {
                // the same key twice, the second with another value: only the text can say that
                String text = body.toString();
                String key = "\"" + field + "\":";
                int at = text.indexOf(key);
                if (at >= 0) {
                    return text.substring(0, at) + key + value(1) + "," + text.substring(at);
                }
                return text;
            }
            case 10 -> {
                return body.toString().replaceFirst("\\{", "{\"deep\":" + deep(60 + random.nextInt(20)) + ",");
            }
            default -> parent.set(field, NODES.textNode(string()));
        }
        return body.toString();
    }

    private static void fields(ObjectNode node, String prefix, List<String> out) {
        for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String path = prefix + "/" + e.getKey();
            out.add(path);
            if (e.getValue() instanceof ObjectNode child) {
                fields(child, path, out);
            }
        }
    }

    private static ObjectNode parentOf(ObjectNode root, String path) {
        ObjectNode node = root;
        String[] parts = path.split("/");
        for (int i = 1; i < parts.length - 1; i++) {
            node = (ObjectNode) node.get(parts[i]);
        }
        return node;
    }

    /** Bytes that a body may be when it is no text at all. */
    byte[] bytes() {
        byte[] out = new byte[random.nextInt(512)];
        random.nextBytes(out);
        return out;
    }

    /** A value for a path segment or a query parameter: any string, or a valid one. */
    String segment(String valid) {
        return random.nextInt(3) == 0 ? valid : string();
    }

    /** A Content-Type a client may send. */
    String contentType() {
        return switch (random.nextInt(8)) {
            case 0 -> "text/plain";
            case 1 -> "application/xml";
            case 2 -> "application/json; charset=" + string().replaceAll("[^A-Za-z0-9-]", "");
            case 3 -> "multipart/form-data; boundary=x";
            default -> "application/json";
        };
    }

    /** Headers a client may add: tokens, consistency tokens, idempotency keys, SSE cursors, trace context. */
    Map<String, String> headers() {
        Map<String, String> headers = new java.util.LinkedHashMap<>();
        String[] names = {"Authorization", "Launch-Consistency", "Idempotency-Key", "Last-Event-ID", "traceparent",
                "Accept", "X-Forwarded-For", "Accept-Language"};
        for (int i = random.nextInt(3); i > 0; i--) {
            String name = names[random.nextInt(names.length)];
            String value = name.equals("Authorization") ? "Bearer " + string() : string();
            value = value.substring(0, Math.min(value.length(), 4096)); // most past the server's header limit
            if (random.nextInt(20) == 0) {
                value = "x".repeat(64 * 1024); // and now and then one that is not
            }
            headers.put(name, value.replaceAll("[\\x00-\\x1f\\x7f]", "").replaceAll("[^\\x20-\\x7e]", "?"));
        }
        return headers;
    }

    static byte[] utf8(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }
}
