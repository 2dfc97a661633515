package dev.launch.common.problem;

import java.util.List;

/** Thrown anywhere in a request to answer with a {@link Problem}; nothing has been changed when it is thrown. */
public class ProblemException extends RuntimeException {
    private final transient Problem problem;
    private final Integer retryAfterSeconds;

    public ProblemException(Problem problem) {
        this(problem, null);
    }

    public ProblemException(Problem problem, Integer retryAfterSeconds) {
        super(problem.detail());
        this.problem = problem;
        this.retryAfterSeconds = retryAfterSeconds;
    }

    public Problem problem() {
        return problem;
    }

    public Integer retryAfterSeconds() {
        return retryAfterSeconds;
    }

    public static ProblemException badRequest(String detail) {
        return new ProblemException(new Problem("about:blank", "Bad Request", 400, detail, null));
    }

    public static ProblemException invalid(String detail, List<Problem.FieldError> errors) {
        return new ProblemException(new Problem("urn:launch:problem:validation", "Invalid request", 400, detail,
                errors));
    }

    public static ProblemException invalidField(String field, String message) {
        return invalid(field + ": " + message, List.of(new Problem.FieldError(field, message)));
    }

    public static ProblemException notFound(String detail) {
        return new ProblemException(new Problem("about:blank", "Not Found", 404, detail, null));
    }

    public static ProblemException conflict(String detail) {
        return new ProblemException(new Problem("about:blank", "Conflict", 409, detail, null));
    }

    public static ProblemException unavailable(String detail, int retryAfterSeconds) {
        return new ProblemException(new Problem("about:blank", "Service Unavailable", 503, detail, null),
                retryAfterSeconds);
    }
}
