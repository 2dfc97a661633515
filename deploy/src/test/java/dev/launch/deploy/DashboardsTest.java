package dev.launch.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.networknt.schema.JsonSchema;
import com.networknt.schema.JsonSchemaFactory;
import com.networknt.schema.SpecVersion;
import com.networknt.schema.ValidationMessage;
import org.junit.jupiter.api.Test;

import java.io.InputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Grafana dashboards: valid against Grafana's dashboard schema, every panel querying the Prometheus chosen by
 * the dashboard's {@code datasource} variable, every metric they name documented. (That every query returns data
 * from a running stack is the end-to-end operations test's job.)
 */
class DashboardsTest {
    private static final Set<String> TITLES = Set.of("Launch overview", "Launch queues", "Launch agents",
            "Launch Kafka and consumers");

    private static JsonSchema schema() throws Exception {
        try (InputStream in = DashboardsTest.class.getResourceAsStream("/grafana/dashboard.schema.json")) {
            return JsonSchemaFactory.getInstance(SpecVersion.VersionFlag.V7).getSchema(Kit.JSON.readTree(in));
        }
    }

    @Test
    void everyDashboardIsValidAgainstGrafanasSchema() throws Exception {
        JsonSchema schema = schema();
        List<Path> dashboards = Kit.dashboards();
        assertEquals(4, dashboards.size(), "dashboards: " + dashboards);
        for (Path file : dashboards) {
            Set<ValidationMessage> errors = schema.validate(Kit.read(Kit.JSON, file));
            assertEquals(Set.of(), errors, file.getFileName() + " is not a valid Grafana dashboard");
        }
    }

    /** The schema is strict: a misspelt field fails, so the check above can fail. */
    @Test
    void theSchemaRefusesAMisspeltField() throws Exception {
        var dashboard = (com.fasterxml.jackson.databind.node.ObjectNode) Kit.read(Kit.JSON, Kit.dashboards().get(0));
        ((com.fasterxml.jackson.databind.node.ObjectNode) dashboard.path("panels").get(0)).put("gridPosition", 1);
        assertFalse(schema().validate(dashboard).isEmpty());
    }

    @Test
    void dashboardsHaveTheirTitlesUniqueIdsAndQueryTheChosenPrometheus() {
        Set<String> uids = new HashSet<>();
        Set<String> titles = new TreeSet<>();
        for (Path file : Kit.dashboards()) {
            JsonNode d = Kit.read(Kit.JSON, file);
            String name = file.getFileName().toString();
            assertTrue(uids.add(d.path("uid").asText()), name + ": uid " + d.path("uid") + " used twice");
            titles.add(d.path("title").asText());
            List<String> variables = new ArrayList<>();
            d.path("templating").path("list").forEach(v -> variables.add(v.path("name").asText()));
            assertTrue(variables.contains("datasource"), name + " has no datasource variable");
            Set<Integer> ids = new HashSet<>();
            for (JsonNode panel : d.path("panels")) {
                String where = name + " panel '" + panel.path("title").asText() + "'";
                assertTrue(ids.add(panel.path("id").asInt()), where + ": id used twice");
                assertEquals("${datasource}", panel.path("datasource").path("uid").asText(), where);
                assertFalse(panel.path("targets").isEmpty(), where + " has no query");
                for (JsonNode target : panel.path("targets")) {
                    assertFalse(target.path("expr").asText().isBlank(), where + " has an empty query");
                    assertEquals("${datasource}", target.path("datasource").path("uid").asText(), where);
                }
                JsonNode grid = panel.path("gridPos");
                assertTrue(grid.path("x").asInt() + grid.path("w").asInt() <= 24, where + " is wider than the grid");
            }
            if (name.equals("launch-queues.json")) {
                assertTrue(variables.contains("queue"), "the queues dashboard has no queue variable");
            }
        }
        assertEquals(new TreeSet<>(TITLES), titles);
    }

    @Test
    void everyMetricTheDashboardsNameIsDocumented() {
        TreeSet<String> documented = Kit.documentedMetrics();
        TreeSet<String> missing = new TreeSet<>();
        for (Path file : Kit.dashboards()) {
            for (String expr : DashboardQueries.of(Kit.read(Kit.JSON, file))) {
                for (String metric : Kit.metricsOf(expr)) {
                    if (!metric.equals("up") && !documented.contains(metric)) {
                        missing.add(file.getFileName() + ": " + metric);
                    }
                }
            }
        }
        assertEquals(new TreeSet<>(), missing, "metrics not in docs/operations.md's table");
    }
}
