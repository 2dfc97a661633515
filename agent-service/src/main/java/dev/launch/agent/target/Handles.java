package dev.launch.agent.target;

/**
 * The one naming rule of every target (ADR 0002): an attempt's work is {@code launch-<runId>-<attempt>}, so it is
 * found again from the run alone. Too long for a target, the run id keeps its head and its tail (a UUIDv7's
 * head is its time, its tail its randomness), which stays unique in practice.
 */
public final class Handles {
    private Handles() {
    }

    public static String of(String runId, int attempt, int maxLength) {
        String full = "launch-" + runId + "-" + attempt;
        if (full.length() <= maxLength) {
            return full;
        }
        String id = runId.replace("-", "");
        int room = maxLength - ("launch--" + attempt).length();
        if (room < 8) {
            throw new IllegalArgumentException("a handle cannot fit in " + maxLength + " characters");
        }
        int head = room / 2;
        String shortId = id.length() <= room ? id : id.substring(0, head) + id.substring(id.length() - (room - head));
        return "launch-" + shortId + "-" + attempt;
    }
}
