package dev.launch.common.naming;

import dev.launch.common.problem.ProblemException;

import java.util.regex.Pattern;

/** Names of jobs and queues: {@code [a-z0-9][a-z0-9._-]{0,62}} (design §5). */
public final class Names {
    public static final Pattern PATTERN = Pattern.compile("[a-z0-9][a-z0-9._-]{0,62}");

    private Names() {
    }

    public static boolean isValid(String name) {
        return name != null && PATTERN.matcher(name).matches();
    }

    /** @throws ProblemException 400 naming {@code field} when {@code name} is missing or malformed */
    public static String require(String field, String name) {
        if (name == null || name.isBlank()) {
            throw ProblemException.invalidField(field, "required: a name matching " + PATTERN.pattern());
        }
        if (!isValid(name)) {
            throw ProblemException.invalidField(field, "'" + abbreviate(name) + "' is not a valid name: use 1 to 63 "
                    + "lower-case letters, digits, '.', '_' or '-', starting with a letter or digit");
        }
        return name;
    }

    private static String abbreviate(String s) {
        return s.length() > 70 ? s.substring(0, 70) + "..." : s;
    }
}
