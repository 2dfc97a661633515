package dev.launch.targetconfig;

import com.fasterxml.jackson.databind.JsonNode;
import dev.launch.common.problem.Problem.FieldError;

import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * How a custom Kubernetes workload says it runs, succeeded or failed: either condition types in
 * {@code status.conditions} whose {@code status} is {@code True} ({@code field: "conditions"}: Kubeflow's training
 * jobs, a JobSet), or the value at a path under {@code status} ({@code field: "state.phase"}: a Volcano Job). A
 * queue declares it as its target's {@code status}:
 * <pre>{"field": "conditions", "running": ["Running"], "succeeded": ["Succeeded"], "failed": ["Failed"]}</pre>
 * Known kinds have defaults ({@link #DEFAULTS}).
 *
 * @param field     {@code conditions}, or a dotted path under {@code status}
 * @param running   values that mean the workload runs (empty: its pods tell)
 * @param succeeded values that mean it ended well
 * @param failed    values that mean it failed
 */
public record StatusRule(String field, Set<String> running, Set<String> succeeded, Set<String> failed) {
    public static final String CONDITIONS = "conditions";

    private static StatusRule conditions(List<String> running, List<String> succeeded, List<String> failed) {
        return new StatusRule(CONDITIONS, Set.copyOf(running), Set.copyOf(succeeded), Set.copyOf(failed));
    }

    private static final StatusRule KUBEFLOW = conditions(List.of("Running"), List.of("Succeeded"), List.of("Failed"));

    /** By {@code <API group>/<kind>}. */
    public static final Map<String, StatusRule> DEFAULTS = Map.of(
            "kubeflow.org/PyTorchJob", KUBEFLOW,
            "kubeflow.org/TFJob", KUBEFLOW,
            "kubeflow.org/MPIJob", KUBEFLOW,
            "kubeflow.org/XGBoostJob", KUBEFLOW,
            "kubeflow.org/JAXJob", KUBEFLOW,
            "batch.volcano.sh/Job", new StatusRule("state.phase", Set.of("Running"), Set.of("Completed"),
                    Set.of("Failed", "Aborted", "Terminated")),
            "jobset.x-k8s.io/JobSet", conditions(List.of(), List.of("Completed"), List.of("Failed")));

    /** What the status says: {@code running}, {@code succeeded}, {@code failed} (with the reason), or nothing yet. */
    public record Verdict(String outcome, String reason) {
    }

    /**
     * The rule for a workload kind: the queue's declared one, else the kind's default; null (and an error naming
     * {@code target.status}) when there is neither or the declared one is malformed.
     */
    public static StatusRule of(String apiVersion, String kind, JsonNode declared, List<FieldError> errors) {
        if (declared != null && !declared.isNull()) {
            if (!declared.isObject() || !declared.path("field").isTextual()) {
                errors.add(new FieldError("target.status", "must be {\"field\": \"conditions\" or a path under status "
                        + "such as \"state.phase\", \"running\": [...], \"succeeded\": [...], \"failed\": [...]}"));
                return null;
            }
            Set<String> running = values(declared, "running", errors);
            Set<String> succeeded = values(declared, "succeeded", errors);
            Set<String> failed = values(declared, "failed", errors);
            if (succeeded.isEmpty() || failed.isEmpty()) {
                errors.add(new FieldError("target.status", "name at least one value for succeeded and one for failed"));
                return null;
            }
            return new StatusRule(declared.get("field").asText(), running, succeeded, failed);
        }
        String group = apiVersion.contains("/") ? apiVersion.substring(0, apiVersion.indexOf('/')) : "";
        StatusRule known = DEFAULTS.get(group + "/" + kind);
        if (known == null) {
            errors.add(new FieldError("target.status", "Launch does not know how a " + apiVersion + " " + kind
                    + " says it ended; declare it, e.g. {\"field\": \"conditions\", \"running\": [\"Running\"], "
                    + "\"succeeded\": [\"Succeeded\"], \"failed\": [\"Failed\"]} (known: " + DEFAULTS.keySet() + ")"));
        }
        return known;
    }

    private static Set<String> values(JsonNode declared, String key, List<FieldError> errors) {
        Set<String> out = new LinkedHashSet<>();
        JsonNode list = declared.get(key);
        if (list == null) {
            return out;
        }
        if (!list.isArray()) {
            errors.add(new FieldError("target.status." + key, "must be a list of strings"));
            return out;
        }
        list.forEach(v -> out.add(v.asText()));
        return out;
    }

    /** Reads a workload's {@code status}. */
    public Verdict read(JsonNode status) {
        if (status == null || status.isMissingNode() || status.isNull()) {
            return new Verdict(null, null);
        }
        if (CONDITIONS.equals(field)) {
            Verdict sawRunning = null;
            Verdict sawSucceeded = null;
            for (JsonNode c : status.path("conditions")) {
                if (!"True".equals(c.path("status").asText())) {
                    continue;
                }
                String type = c.path("type").asText();
                String why = type + (c.hasNonNull("reason") ? " (" + c.get("reason").asText() + ")" : "")
                        + (c.hasNonNull("message") ? ": " + c.get("message").asText() : "");
                if (failed.contains(type)) {
                    return new Verdict("failed", why);
                }
                if (succeeded.contains(type)) {
                    sawSucceeded = new Verdict("succeeded", why);
                } else if (running.contains(type)) {
                    sawRunning = new Verdict("running", why);
                }
            }
            return sawSucceeded != null ? sawSucceeded : sawRunning != null ? sawRunning : new Verdict(null, null);
        }
        JsonNode value = status;
        for (String part : field.split("\\.")) {
            value = value.path(part);
        }
        String text = value.asText(null);
        if (text == null) {
            return new Verdict(null, null);
        }
        String why = field + " " + text;
        return failed.contains(text) ? new Verdict("failed", why) : succeeded.contains(text)
                ? new Verdict("succeeded", why) : running.contains(text) ? new Verdict("running", why)
                : new Verdict(null, why);
    }
}
