package dev.launch.web;

import dev.launch.common.problem.Problem;
import dev.launch.common.problem.ProblemException;

import com.fasterxml.jackson.core.JsonParseException;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.exc.InvalidFormatException;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import jakarta.ws.rs.WebApplicationException;
import jakarta.ws.rs.core.Response;
import jakarta.ws.rs.ext.ExceptionMapper;
import jakarta.ws.rs.ext.Provider;
import org.jboss.logging.Logger;

import java.util.stream.Collectors;

/**
 * Turns every error a service can raise into {@code application/problem+json}. Shared by all services
 * (this jar is a bean archive, so Quarkus discovers the providers).
 */
public final class ProblemMappers {
    private static final Logger LOG = Logger.getLogger(ProblemMappers.class);

    private ProblemMappers() {
    }

    public static Response response(Problem problem) {
        return Response.status(problem.status()).type(Problem.MEDIA_TYPE).entity(problem).build();
    }

    /** Dotted path of the JSON location a Jackson error points at ({@code source.type}, {@code entrypoint[0]}). */
    static String pathOf(JsonMappingException e) {
        return e.getPath().stream()
                .map(ref -> ref.getFieldName() != null ? "." + ref.getFieldName() : "[" + ref.getIndex() + "]")
                .collect(Collectors.joining())
                .replaceFirst("^\\.", "");
    }

    static Problem problemOf(JsonProcessingException e) {
        String twice = duplicateKey(e);
        if (twice != null) {
            // STRICT_DUPLICATE_DETECTION (StrictJson): the error stands in the object that has the key twice
            String object = e instanceof JsonMappingException mapping && !mapping.getPath().isEmpty()
                    ? pathOf(mapping)
                    : e.getProcessor() instanceof com.fasterxml.jackson.core.JsonParser parser
                    ? pointerPath(parser.getParsingContext().getParent()) : "";
            return ProblemException.invalidField((object.isEmpty() ? "" : object + ".") + twice,
                    "given twice; give each field once").problem();
        }
        if (causedBy(e, com.fasterxml.jackson.core.exc.StreamConstraintsException.class)) {
            return new Problem("urn:launch:problem:malformed-json", "Request body too deep", 400,
                    "The request body nests objects and arrays deeper than " + StrictJson.MAX_DEPTH
                            + " levels; no request needs that many.", null);
        }
        if (e instanceof JsonParseException parse) {
            return new Problem("urn:launch:problem:malformed-json", "Malformed JSON", 400,
                    "The request body is not valid JSON (" + parse.getOriginalMessage() + " at line "
                            + parse.getLocation().getLineNr() + ", column " + parse.getLocation().getColumnNr()
                            + "). Send a JSON object.", null);
        }
        if (e instanceof JsonMappingException mapping && !mapping.getPath().isEmpty()) {
            String field = pathOf(mapping);
            String message;
            if (e instanceof UnrecognizedPropertyException unknown) {
                message = "unknown field; allowed here: " + unknown.getKnownPropertyIds();
            } else if (e instanceof InvalidFormatException format) {
                message = "cannot read " + format.getValue() + " as " + simpleType(format.getTargetType());
            } else if (e instanceof MismatchedInputException mismatch) {
                message = "expected " + simpleType(mismatch.getTargetType());
            } else {
                message = withoutClassNames(mapping.getOriginalMessage());
            }
            return ProblemException.invalidField(field, message).problem();
        }
        if (e instanceof MismatchedInputException) {
            // the body as a whole is of another type (a number, a string, an array)
            return new Problem("urn:launch:problem:malformed-json", "Malformed JSON", 400,
                    "The request body must be a JSON object.", null);
        }
        return new Problem("urn:launch:problem:malformed-json", "Malformed JSON", 400,
                "The request body cannot be read: " + withoutClassNames(e.getOriginalMessage())
                        + ". Send a JSON object.", null);
    }

    private static final java.util.regex.Pattern CLASS_NAME = java.util.regex.Pattern.compile(
            "`?(?:[a-z_$][\\w$]*\\.)+([A-Z][\\w$]*)`?");

    /** A Jackson message without the service's class names ({@code `dev.launch.x.Y`} becomes {@code Y}). */
    static String withoutClassNames(String message) {
        return message == null ? "" : CLASS_NAME.matcher(message).replaceAll("$1");
    }

    private static boolean causedBy(Throwable e, Class<? extends Throwable> type) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (type.isInstance(t)) {
                return true;
            }
        }
        return false;
    }

    private static final java.util.regex.Pattern DUPLICATE = java.util.regex.Pattern.compile(
            "^Duplicate field '(.*)'$");

    /** The key a body gives twice, when that is what {@code e} says; else null. */
    private static String duplicateKey(JsonProcessingException e) {
        java.util.regex.Matcher key = DUPLICATE.matcher(String.valueOf(e.getOriginalMessage()));
        return key.matches() ? key.group(1) : null;
    }

    /** Dotted path of a parser's place ({@code source.type}, {@code entrypoint[0]}); empty at the root. */
    private static String pointerPath(com.fasterxml.jackson.core.JsonStreamContext context) {
        StringBuilder path = new StringBuilder();
        for (com.fasterxml.jackson.core.JsonStreamContext c = context; c != null && !c.inRoot(); c = c.getParent()) {
            path.insert(0, c.inArray() ? "[" + c.getCurrentIndex() + "]" : "." + c.getCurrentName());
        }
        return path.toString().replaceFirst("^\\.", "");
    }

    private static String simpleType(Class<?> type) {
        if (type == null) {
            return "another type";
        }
        if (type == String.class) {
            return "a string";
        }
        if (Number.class.isAssignableFrom(type) || type == int.class || type == long.class || type == double.class) {
            return "a number";
        }
        if (type == Boolean.class || type == boolean.class) {
            return "true or false";
        }
        if (java.util.Collection.class.isAssignableFrom(type) || type.isArray()) {
            return "an array";
        }
        return "an object";
    }

    @Provider
    public static class ProblemExceptionMapper implements ExceptionMapper<ProblemException> {
        @Override
        public Response toResponse(ProblemException e) {
            Response.ResponseBuilder builder = Response.status(e.problem().status()).type(Problem.MEDIA_TYPE)
                    .entity(e.problem());
            if (e.retryAfterSeconds() != null) {
                builder.header("Retry-After", e.retryAfterSeconds());
            }
            return builder.build();
        }
    }

    @Provider
    public static class JsonProcessingMapper implements ExceptionMapper<JsonProcessingException> {
        @Override
        public Response toResponse(JsonProcessingException e) {
            return response(problemOf(e));
        }
    }

    /** Quarkus ships its own mapper for this exact type; this one takes precedence. */
    @Provider
    @jakarta.annotation.Priority(1)
    public static class JsonParseMapper implements ExceptionMapper<JsonParseException> {
        @Override
        public Response toResponse(JsonParseException e) {
            return response(problemOf(e));
        }
    }

    /** Quarkus ships its own mapper for this exact type; this one takes precedence. */
    @Provider
    @jakarta.annotation.Priority(1)
    public static class MismatchedInputMapper implements ExceptionMapper<MismatchedInputException> {
        @Override
        public Response toResponse(MismatchedInputException e) {
            return response(problemOf(e));
        }
    }

    @Provider
    public static class WebApplicationMapper implements ExceptionMapper<WebApplicationException> {
        @Override
        public Response toResponse(WebApplicationException e) {
            Throwable cause = e.getCause();
            if (cause instanceof JsonProcessingException json) {
                return response(problemOf(json));
            }
            int status = e.getResponse().getStatus();
            Response.StatusType type = Response.Status.fromStatusCode(status);
            String title = type != null ? type.getReasonPhrase() : "HTTP " + status;
            String detail = switch (status) {
                case 404 -> "No such resource. See /q/openapi for the API.";
                case 405 -> "This method is not allowed on this resource. See /q/openapi for the API.";
                case 413 -> "The request body is too large.";
                case 415 -> "Send the body as application/json.";
                case 406 -> "This API answers application/json.";
                default -> e.getMessage();
            };
            return response(new Problem("about:blank", title, status, detail, null));
        }
    }

    /**
     * A database that is restarting or went away mid-request: a closed connection, or a PostgreSQL error of
     * class 57P (shutting down, starting up) or 08 (connection exception).
     */
    static boolean unavailable(Throwable t) {
        String name = t.getClass().getSimpleName();
        if (name.equals("ClosedConnectionException")) {
            return true;
        }
        if ((name.equals("NoStackTraceThrowable") && "Timeout".equals(t.getMessage()))
                || (name.equals("VertxException") && String.valueOf(t.getMessage()).startsWith("Timeout waiting for connection"))) {
            return true; // no database connection became free in time
        }
        if (name.equals("PgException")) {
            try {
                Object state = t.getClass().getMethod("getSqlState").invoke(t);
                return state instanceof String s && (s.startsWith("57P") || s.startsWith("08"));
            } catch (ReflectiveOperationException e) {
                return false;
            }
        }
        return false;
    }

    @Provider
    public static class UnexpectedMapper implements ExceptionMapper<Throwable> {
        @Override
        public Response toResponse(Throwable e) {
            // WebApplicationException and Jackson errors never get here: their own mappers are more specific
            for (Throwable t = e; t != null; t = t.getCause()) {
                if (t instanceof java.net.ConnectException || t instanceof java.net.NoRouteToHostException
                        || unavailable(t)) {
                    LOG.warnf("a backing service is unreachable: %s", t.toString());
                    return Response.status(503).type(Problem.MEDIA_TYPE).header("Retry-After", 5)
                            .entity(new Problem("about:blank", "Service Unavailable", 503, "A service this one "
                                    + "depends on (database or Kafka) is unreachable; nothing was changed. Retry "
                                    + "shortly.", null)).build();
                }
            }
            LOG.error("unexpected error while serving a request", e);
            return response(new Problem("about:blank", "Internal Server Error", 500,
                    "The service failed unexpectedly (" + e.getClass().getSimpleName()
                            + "); nothing was changed. See the service log.", null));
        }
    }
}
