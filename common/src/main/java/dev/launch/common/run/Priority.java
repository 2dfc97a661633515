package dev.launch.common.run;

import java.util.Locale;
import java.util.Optional;

/**
 * Priority levels of a queue that enables prioritization, highest first. Agents take the oldest run of the
 * highest level that has one; a lower level never passes a higher one (ADR 0001).
 */
public enum Priority {
    CRITICAL, HIGH, MEDIUM, LOW;

    /** The level a run gets when it names none. */
    public static final Priority DEFAULT = MEDIUM;

    /** The name in the API and in events: {@code critical}, {@code high}, {@code medium}, {@code low}. */
    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** 0 for {@code critical} up to 3 for {@code low}: the order agents take levels in. */
    public int rank() {
        return ordinal();
    }

    /** The level named {@code label} ({@code critical} ...), or empty when it names none. */
    public static Optional<Priority> parse(String label) {
        if (label == null) {
            return Optional.empty();
        }
        for (Priority p : values()) {
            if (p.label().equals(label)) {
                return Optional.of(p);
            }
        }
        return Optional.empty();
    }

    /** The labels, highest first, for error messages. */
    public static String labels() {
        return "critical, high, medium, low";
    }
}
