package dev.launch.deploy;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.ArrayList;
import java.util.List;

/** The PromQL of a dashboard: every panel target's {@code expr}, and its query variables' queries. */
final class DashboardQueries {
    private DashboardQueries() {
    }

    static List<String> of(JsonNode dashboard) {
        List<String> exprs = new ArrayList<>();
        for (JsonNode panel : dashboard.path("panels")) {
            panel.path("targets").forEach(t -> exprs.add(t.path("expr").asText()));
        }
        return exprs;
    }
}
