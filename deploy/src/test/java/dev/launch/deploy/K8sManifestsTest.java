package dev.launch.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.KubernetesResource;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.api.model.rbac.RoleBinding;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.base.CustomResourceDefinitionContext;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.fabric8.mockwebserver.Context;
import io.fabric8.openshift.api.model.monitoring.v1.PrometheusRule;
import io.fabric8.openshift.api.model.monitoring.v1.ServiceMonitor;
import io.fabric8.mockwebserver.MockWebServer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * {@code deploy/k8s}: every manifest is listed in its kustomization, reads into fabric8's typed model without a
 * field the model does not know (a typo like {@code readinesProbe} would be kept as an "additional property" and
 * ignored by the API server), is created on fabric8's mock API server, and holds together: Services select their
 * pods' labels and ports, every container has probes and resource requests, no secret is written in a manifest,
 * and the PrometheusRule is the alert rule file.
 */
class K8sManifestsTest {
    private static KubernetesMockServer server;
    private static KubernetesClient client;
    private static List<HasMetadata> resources;

    static Path k8s() {
        return Kit.deploy().resolve("k8s");
    }

    /** With {@code -Dlaunch.regenerate=true}: writes monitoring/prometheusrule.yaml from the rule file first. */
    private static void regenerateIfAsked() throws IOException {
        if (Boolean.getBoolean("launch.regenerate")) {
            Files.writeString(k8s().resolve("monitoring/prometheusrule.yaml"), """
                    # Made from deploy/prometheus/rules/launch-alerts.yml; do not edit: K8sManifestsTest fails when
                    # they differ, and `mvn -pl deploy test -Dtest=K8sManifestsTest -Dlaunch.regenerate=true` writes
                    # it again.
                    """ + new com.fasterxml.jackson.databind.ObjectMapper(YAMLFactory.builder()
                    .enable(YAMLGenerator.Feature.MINIMIZE_QUOTES).enable(YAMLGenerator.Feature.LITERAL_BLOCK_STYLE)
                    .disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER).disable(YAMLGenerator.Feature.SPLIT_LINES)
                    .build()).writeValueAsString(prometheusRule()));
        }
    }

    @BeforeAll
    static void load() throws IOException {
        regenerateIfAsked();
        KubernetesCrudDispatcher crud = new KubernetesCrudDispatcher();
        server = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(), crud, false);
        server.init();
        for (String kind : List.of("ServiceMonitor", "PrometheusRule")) {
            crud.expectCustomResource(new CustomResourceDefinitionContext.Builder().withGroup("monitoring.coreos.com")
                    .withVersion("v1").withKind(kind).withPlural(kind.toLowerCase() + "s").withScope("Namespaced")
                    .build());
        }
        client = server.createClient();
        resources = new ArrayList<>();
        for (Path file : listed()) {
            for (Object item : asList(Serialization.unmarshal(Files.readString(file)))) {
                assertTrue(item instanceof HasMetadata, file + ": not a Kubernetes object: " + item);
                List<String> unknown = new ArrayList<>();
                unknownFields(item, k8s().relativize(file) + " " + ((HasMetadata) item).getKind(), unknown,
                        new IdentityHashMap<>());
                assertEquals(List.of(), unknown, "fields the typed model does not know");
                resources.add((HasMetadata) item);
            }
        }
    }

    @AfterAll
    static void close() {
        if (client != null) {
            client.close();
        }
        if (server != null) {
            server.destroy();
        }
    }

    /** The files kustomization.yaml lists, each existing; and no manifest beside them that it leaves out. */
    private static List<Path> listed() throws IOException {
        JsonNode kustomization = Kit.read(Kit.YAML, k8s().resolve("kustomization.yaml"));
        List<Path> files = new ArrayList<>();
        kustomization.get("resources").forEach(r -> files.add(k8s().resolve(r.asText())));
        files.forEach(f -> assertTrue(Files.isRegularFile(f), "kustomization.yaml lists a missing file: " + f));
        try (Stream<Path> all = Files.walk(k8s())) {
            List<Path> left = all.filter(f -> f.toString().endsWith(".yaml"))
                    .filter(f -> !f.getFileName().toString().equals("kustomization.yaml"))
                    .filter(f -> !files.contains(f)).toList();
            assertEquals(List.of(), left, "manifests kustomization.yaml does not list");
        }
        return files;
    }

    private static List<?> asList(Object unmarshalled) {
        if (unmarshalled instanceof io.fabric8.kubernetes.api.model.KubernetesList list) {
            return list.getItems();
        }
        return unmarshalled instanceof List<?> l ? l : List.of(unmarshalled);
    }

    /** Walks a fabric8 model object; every non-empty additionalProperties is a field its type does not have. */
    private static void unknownFields(Object o, String path, List<String> unknown, Map<Object, Boolean> seen) {
        if (o == null || seen.put(o, true) != null) {
            return;
        }
        if (o instanceof Collection<?> c) {
            int i = 0;
            for (Object e : c) {
                unknownFields(e, path + "[" + i++ + "]", unknown, seen);
            }
            return;
        }
        if (o instanceof Map<?, ?> m) {
            m.forEach((k, v) -> unknownFields(v, path + "." + k, unknown, seen));
            return;
        }
        if (!o.getClass().getName().startsWith("io.fabric8.") || o.getClass().isEnum()) {
            return;
        }
        for (Method getter : o.getClass().getMethods()) {
            if (getter.getParameterCount() != 0 || getter.getDeclaringClass() == Object.class
                    || !(getter.getName().startsWith("get") || getter.getName().startsWith("is"))) {
                continue;
            }
            Object value;
            try {
                value = getter.invoke(o);
            } catch (ReflectiveOperationException e) {
                continue;
            }
            if (getter.getName().equals("getAdditionalProperties")) {
                if (value instanceof Map<?, ?> extra && !extra.isEmpty()) {
                    unknown.add(path + ": " + extra.keySet());
                }
                continue;
            }
            String field = getter.getName().replaceFirst("^(get|is)", "");
            unknownFields(value, path + "." + Character.toLowerCase(field.charAt(0)) + field.substring(1), unknown,
                    seen);
        }
    }

    private static <T extends HasMetadata> List<T> all(Class<T> type) {
        return resources.stream().filter(type::isInstance).map(type::cast).toList();
    }

    private static Map<String, PodTemplateSpec> workloads() {
        Map<String, PodTemplateSpec> templates = new HashMap<>();
        all(Deployment.class).forEach(d -> templates.put(d.getMetadata().getName(), d.getSpec().getTemplate()));
        all(StatefulSet.class).forEach(s -> templates.put(s.getMetadata().getName(), s.getSpec().getTemplate()));
        return templates;
    }

    @Test
    void everyManifestIsCreatedOnTheApiServer() {
        for (HasMetadata resource : resources) {
            HasMetadata created = client.resource(resource).create();
            assertNotNull(created.getMetadata().getUid(), resource.getKind() + " " + resource.getMetadata().getName());
            assertTrue(resource.getMetadata().getNamespace() != null || resource.getKind().equals("Namespace"),
                    resource.getKind() + " " + resource.getMetadata().getName() + " names no namespace");
        }
        Set<String> kinds = new TreeSet<>(resources.stream().map(HasMetadata::getKind).toList());
        assertEquals(new TreeSet<>(List.of("ConfigMap", "Deployment", "Namespace", "PersistentVolumeClaim",
                "PrometheusRule", "Role", "RoleBinding", "Service", "ServiceAccount", "ServiceMonitor",
                "StatefulSet")), kinds);
        assertEquals(Set.of("job-service", "queue-service", "status-service", "launch-agent"), workloads().keySet());
        assertEquals(1, client.resources(PrometheusRule.class).inNamespace("launch").list().getItems().size());
    }

    @Test
    void everyContainerHasProbesResourcesAndNoSecretWrittenInIt() {
        workloads().forEach((name, template) -> {
            for (Container c : template.getSpec().getContainers()) {
                String who = name + "/" + c.getName();
                assertNotNull(c.getReadinessProbe(), who + ": readiness probe");
                assertNotNull(c.getLivenessProbe(), who + ": liveness probe");
                assertEquals("/q/health/ready", c.getReadinessProbe().getHttpGet().getPath(), who);
                assertEquals("/q/health/live", c.getLivenessProbe().getHttpGet().getPath(), who);
                assertNotNull(c.getResources().getRequests().get("cpu"), who + ": cpu request");
                assertNotNull(c.getResources().getRequests().get("memory"), who + ": memory request");
                assertNotNull(c.getResources().getLimits().get("memory"), who + ": memory limit");
                assertTrue(c.getImage().startsWith("launch/"), who + ": an image the kit builds: " + c.getImage());
                for (EnvVar env : c.getEnv()) {
                    if (env.getName().matches(".*(PASSWORD|SECRET|TOKEN).*")) {
                        assertEquals(null, env.getValue(), who + ": " + env.getName() + " is written in the manifest");
                        assertNotNull(env.getValueFrom().getSecretKeyRef(), who + ": " + env.getName()
                                + " comes from a Secret");
                    }
                }
                assertFalse(c.getEnvFrom().isEmpty(), who + ": the installation's ConfigMap");
            }
        });
        all(io.fabric8.kubernetes.api.model.ConfigMap.class).forEach(cm -> cm.getData().keySet().forEach(k ->
                assertFalse(k.matches(".*(PASSWORD|SECRET|TOKEN).*"), "ConfigMap " + cm.getMetadata().getName()
                        + " holds " + k)));
    }

    @Test
    void servicesSelectTheirPodsAndPortsAndTheServiceMonitorSelectsTheServices() {
        Map<String, PodTemplateSpec> workloads = workloads();
        List<Service> services = all(Service.class);
        assertEquals(workloads.keySet(), new TreeSet<>(services.stream().map(s -> s.getMetadata().getName()).toList())
                .stream().collect(java.util.stream.Collectors.toSet()), "one Service per workload");
        for (Service service : services) {
            PodTemplateSpec pods = workloads.get(service.getMetadata().getName());
            service.getSpec().getSelector().forEach((k, v) -> assertEquals(v, pods.getMetadata().getLabels().get(k),
                    service.getMetadata().getName() + " selects " + k + "=" + v));
            Set<String> ports = new TreeSet<>();
            pods.getSpec().getContainers().forEach(c -> c.getPorts().forEach(p -> ports.add(p.getName())));
            service.getSpec().getPorts().forEach(p -> assertTrue(ports.contains(p.getTargetPort().getStrVal()),
                    service.getMetadata().getName() + " targets port " + p.getTargetPort()));
        }
        ServiceMonitor monitor = all(ServiceMonitor.class).get(0);
        Map<String, String> selector = monitor.getSpec().getSelector().getMatchLabels();
        String jobLabel = monitor.getSpec().getJobLabel();
        Set<String> jobs = new TreeSet<>();
        for (Service service : services) {
            Map<String, String> labels = service.getMetadata().getLabels();
            selector.forEach((k, v) -> assertEquals(v, labels.get(k), service.getMetadata().getName()
                    + " is scraped"));
            jobs.add(labels.get(jobLabel));
            assertEquals("http", monitor.getSpec().getEndpoints().get(0).getPort());
        }
        // the job names the alerts and dashboards select, as deploy/prometheus/prometheus.yml names them
        JsonNode prometheus = Kit.read(Kit.YAML, Kit.deploy().resolve("prometheus/prometheus.yml"));
        Set<String> scrapeJobs = new TreeSet<>();
        prometheus.get("scrape_configs").forEach(j -> scrapeJobs.add(j.get("job_name").asText()));
        assertEquals(scrapeJobs, jobs);
        assertEquals("/q/metrics", monitor.getSpec().getEndpoints().get(0).getPath());
    }

    @Test
    void theAgentsRoleBindingNamesItsServiceAccount() {
        RoleBinding binding = all(RoleBinding.class).get(0);
        String account = all(StatefulSet.class).stream().filter(s -> s.getMetadata().getName().equals("launch-agent"))
                .findFirst().orElseThrow().getSpec().getTemplate().getSpec().getServiceAccountName();
        assertEquals(account, binding.getSubjects().get(0).getName());
        assertTrue(all(io.fabric8.kubernetes.api.model.ServiceAccount.class).stream()
                .anyMatch(a -> a.getMetadata().getName().equals(account)));
        assertTrue(all(io.fabric8.kubernetes.api.model.Namespace.class).stream()
                .anyMatch(n -> n.getMetadata().getName().equals(binding.getMetadata().getNamespace())),
                "the runs' namespace exists");
    }

    /** The PrometheusRule the rule file makes: the same groups, as the file has them. */
    static ObjectNode prometheusRule() {
        ObjectNode rule = Kit.YAML.createObjectNode();
        rule.put("apiVersion", "monitoring.coreos.com/v1");
        rule.put("kind", "PrometheusRule");
        ObjectNode metadata = rule.putObject("metadata");
        metadata.put("name", "launch-alerts");
        metadata.put("namespace", "launch");
        metadata.putObject("labels").put("app.kubernetes.io/part-of", "launch");
        rule.putObject("spec").set("groups", Kit.read(Kit.YAML, Kit.rules()).get("groups"));
        return rule;
    }

    @Test
    void thePrometheusRuleIsTheAlertRuleFile() throws IOException {
        Path file = k8s().resolve("monitoring/prometheusrule.yaml");
        assertEquals(prometheusRule(), Kit.read(Kit.YAML, file), file + " differs from the rule file; run "
                + "mvn -pl deploy test -Dtest=K8sManifestsTest -Dlaunch.regenerate=true");
        PrometheusRule typed = all(PrometheusRule.class).get(0);
        long alerts = typed.getSpec().getGroups().stream().mapToLong(g -> g.getRules().size()).sum();
        assertEquals(Kit.read(Kit.YAML, Kit.rules()).get("groups").get(0).get("rules").size(), alerts);
    }
}
