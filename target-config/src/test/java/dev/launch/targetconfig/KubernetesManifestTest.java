package dev.launch.targetconfig;

import com.fasterxml.jackson.databind.JsonNode;
import dev.launch.common.event.Events;
import dev.launch.common.problem.Problem.FieldError;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

/** A kubernetes queue's manifest is read as Kubernetes reads it, and refused where it would do harm or be lost. */
class KubernetesManifestTest {

    private static JsonNode json(String text) throws Exception {
        return Events.MAPPER.readTree(text.replace('\'', '"'));
    }

    private static List<String> fields(String config, Set<String> allow) throws Exception {
        return KubernetesManifest.check(json(config), allow, null).stream().map(FieldError::field).toList();
    }

    @Test
    void aPlainJobSpecIsAccepted() throws Exception {
        assertEquals(List.of(), fields("{'spec': {'template': {'spec': {'containers': [{'resources': {'limits': "
                + "{'cpu': 4, 'memory': '12Gi', 'nvidia.com/gpu': 1}}, 'volumeMounts': [{'name': 'd', 'mountPath': "
                + "'/dev/shm'}]}], 'securityContext': {'runAsNonRoot': true, 'runAsUser': 1000}}}, 'backoffLimit': 1},"
                + " 'metadata': {'labels': {'team': 'vision'}}, 'namespace': 'wandb'}", Set.of()));
        assertEquals(List.of(), fields("{}", Set.of()), "an empty config is a Job with the run's container only");
    }

    @Test
    void anUnknownFieldIsRefusedByItsPath() throws Exception {
        assertEquals(List.of("config.spec.template.spec.containers[0].resources.volumeMounts"),
                fields("{'spec': {'template': {'spec': {'containers': [{'resources': {'limits': {'cpu': 4}, "
                        + "'volumeMounts': [{'name': 'n', 'mountPath': '/root/.cache'}]}}]}}}}", Set.of()));
        assertEquals(List.of("config.spec.backofLimit"), fields("{'spec': {'backofLimit': 0}}", Set.of()));
        assertEquals(List.of("config.color"), fields("{'color': 'blue', 'spec': {}}", Set.of()));
    }

    @Test
    void aValueOfTheWrongTypeIsRefusedByItsPath() throws Exception {
        List<FieldError> errors = KubernetesManifest.check(json("{'spec': {'backoffLimit': 'many'}}"), Set.of(), null);
        assertEquals("config.spec.backoffLimit", errors.get(0).field(), errors.toString());
    }

    @Test
    void oneKubernetesWrapperIsTakenOffAndTwoAreRefused() throws Exception {
        assertEquals(List.of(), fields("{'kubernetes': {'spec': {'backoffLimit': 0}}}", Set.of()));
        assertEquals(List.of("config.kubernetes.spec.backofLimit"),
                fields("{'kubernetes': {'spec': {'backofLimit': 0}}}", Set.of()));
        List<FieldError> twice = KubernetesManifest.check(json("{'kubernetes': {'kubernetes': {'spec': {}}}}"),
                Set.of(), null);
        assertEquals("config.kubernetes.kubernetes", twice.get(0).field());
        assertTrue(twice.get(0).message().contains("twice"), twice.get(0).message());
    }

    @Test
    void whatGivesARunMoreThanItsPodIsRefusedUnlessAllowedByName() throws Exception {
        String pod = "{'spec': {'template': {'spec': {%s, 'containers': [{'name': 'main'%s}]}}}}";
        assertEquals(List.of("config.spec.template.spec.volumes[0].hostPath"), fields(String.format(pod,
                "'volumes': [{'name': 'h', 'hostPath': {'path': '/'}}]", ""), Set.of()));
        assertEquals(List.of(), fields(String.format(pod, "'volumes': [{'name': 'h', 'hostPath': {'path': '/d'}}]",
                ""), Set.of("hostPath")));
        assertEquals(List.of("config.spec.template.spec.hostNetwork", "config.spec.template.spec.hostPID"),
                fields(String.format(pod, "'hostNetwork': true, 'hostPID': true, 'hostIPC': false", ""), Set.of()));
        assertEquals(List.of("config.spec.template.spec.shareProcessNamespace"),
                fields(String.format(pod, "'shareProcessNamespace': true", ""), Set.of()));
        assertEquals(List.of("config.spec.template.spec.serviceAccountName"),
                fields(String.format(pod, "'serviceAccountName': 'admin'", ""), Set.of()));
        assertEquals(List.of("config.spec.template.spec.containers[0].securityContext.privileged",
                        "config.spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation",
                        "config.spec.template.spec.containers[0].securityContext.capabilities"),
                fields(String.format(pod, "'restartPolicy': 'Never'", ", 'securityContext': {'privileged': true, "
                        + "'allowPrivilegeEscalation': true, 'capabilities': {'add': ['SYS_ADMIN']}}"), Set.of()));
        assertEquals(List.of(), fields(String.format(pod, "'restartPolicy': 'Never'", ", 'securityContext': "
                + "{'allowPrivilegeEscalation': false, 'capabilities': {'drop': ['ALL']}, 'readOnlyRootFilesystem': "
                + "true}"), Set.of()), "a context that only takes rights away is fine");
    }

    @Test
    void aPlaceholderIsRefusedWhereItIsUsedButNotAsTheImageTheJobReplaces() throws Exception {
        assertEquals(List.of(), fields("{'spec': {'template': {'spec': {'containers': [{'image': '<DOCKER_IMAGE>'}]}}}}",
                Set.of()));
        assertEquals(List.of("config.spec.template.spec.containers[1].image"), fields("{'spec': {'template': {'spec': "
                + "{'containers': [{'name': 'a'}, {'name': 'b', 'image': '<SIDECAR_IMAGE>'}]}}}}", Set.of()));
        List<FieldError> ns = KubernetesManifest.check(json("{'namespace': '<CW_NAMESPACE>'}"), Set.of(), null);
        assertEquals("config.namespace", ns.get(0).field());
        assertTrue(ns.get(0).message().contains("placeholder"), ns.get(0).message());
    }

    @Test
    void theMainContainerNamedByTheQueueMustExist() throws Exception {
        List<FieldError> errors = KubernetesManifest.check(json("{'spec': {'template': {'spec': {'containers': "
                + "[{'name': 'a'}]}}}}"), Set.of(), "trainer");
        assertEquals("target.container", errors.get(0).field());
    }

    @Test
    void pathsAreWrittenAsAUserReadsThem() {
        assertEquals(".spec.containers[0].image", KubernetesManifest.dotted("/spec/containers/0/image"));
        assertEquals(".metadata.labels.a/b", KubernetesManifest.dotted("/metadata/labels/a~1b"));
    }

    @Test
    void statusRulesReadConditionsOrAPathUnderStatus() throws Exception {
        StatusRule kubeflow = StatusRule.DEFAULTS.get("kubeflow.org/PyTorchJob");
        assertEquals("running", kubeflow.read(json("{'conditions': [{'type': 'Created', 'status': 'True'}, "
                + "{'type': 'Running', 'status': 'True'}]}")).outcome());
        StatusRule.Verdict failed = kubeflow.read(json("{'conditions': [{'type': 'Running', 'status': 'False'}, "
                + "{'type': 'Failed', 'status': 'True', 'reason': 'PyTorchJobFailed', 'message': 'Worker-1 exited 1'}]}"));
        assertEquals("failed", failed.outcome());
        assertEquals("Failed (PyTorchJobFailed): Worker-1 exited 1", failed.reason());
        StatusRule volcano = StatusRule.DEFAULTS.get("batch.volcano.sh/Job");
        assertEquals("succeeded", volcano.read(json("{'state': {'phase': 'Completed'}}")).outcome());
        assertEquals("failed", volcano.read(json("{'state': {'phase': 'Aborted'}}")).outcome());
        assertNull(volcano.read(json("{'state': {'phase': 'Pending'}}")).outcome());
    }

    @Test
    void podTemplatesOfCustomWorkloadsAreFoundWhereTheOperatorKeepsThem() throws Exception {
        JsonNode spec = json("{'tasks': [{'name': 'master', 'template': {'spec': {'containers': [{'name': 'm'}]}}}, "
                + "{'name': 'worker', 'template': {'spec': {'containers': [{'name': 'w'}]}}}]}");
        assertEquals(List.of("config.spec.tasks[0].template", "config.spec.tasks[1].template"),
                KubernetesManifest.podTemplates(spec, "config.spec").stream().map(java.util.Map.Entry::getKey).toList());
    }
}
