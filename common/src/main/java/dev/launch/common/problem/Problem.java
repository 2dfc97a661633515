package dev.launch.common.problem;

import com.fasterxml.jackson.annotation.JsonInclude;

import java.util.List;

/**
 * An RFC 9457 problem detail, served as {@code application/problem+json} by every service.
 *
 * @param type   a URI naming the kind of problem ({@code about:blank} when only the status matters)
 * @param title  short summary of the kind of problem
 * @param status HTTP status
 * @param detail what went wrong with this request and what to do about it
 * @param errors for validation problems: each offending field and what is wrong with it
 */
@JsonInclude(JsonInclude.Include.NON_EMPTY)
public record Problem(String type, String title, int status, String detail, List<FieldError> errors) {

    public static final String MEDIA_TYPE = "application/problem+json";

    /**
     * @param field   where in the request body, dotted ({@code inputs.lr}, {@code source.remote})
     * @param message what is wrong and what is allowed
     */
    public record FieldError(String field, String message) {
    }
}
