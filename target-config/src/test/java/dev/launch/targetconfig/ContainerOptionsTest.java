package dev.launch.targetconfig;

import com.fasterxml.jackson.databind.JsonNode;
import dev.launch.common.event.Events;
import dev.launch.common.problem.Problem;
import dev.launch.targetconfig.ContainerOptions;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

/** W&B Launch's local-container resource args become engine flags by its rules, checked against an allow-list. */
class ContainerOptionsTest {
    private static JsonNode json(String text) throws Exception {
        return Events.MAPPER.readTree(text);
    }

    private static List<String> fields(List<Problem.FieldError> errors) {
        return errors.stream().map(Problem.FieldError::field).toList();
    }

    @Test
    void aWandbStyleConfigBecomesFlagsByItsRulesWithUnderscoresReadAsDashes() throws Exception {
        JsonNode config = json("""
                {"gpus": "all", "shm_size": "2g", "volume": ["/data:/data:ro", "/cache:/cache"],
                 "env": ["A=1", "B=two words"], "runtime": "nvidia", "rm": true, "init": true, "tty": false,
                 "e": "C=3", "cpus": 2, "builder": {"accelerator": {"base_image": "nvidia/cuda:12.1"}}}""");
        assertEquals(List.of("--gpus", "all", "--shm-size", "2g", "--volume", "/data:/data:ro", "--volume",
                "/cache:/cache", "--env", "A=1", "--env", "B=two words", "--runtime", "nvidia", "--init",
                "-e", "C=3", "--cpus", "2"), ContainerOptions.flags(config));
        assertEquals(List.of(), ContainerOptions.check(config, Set.of()));
    }

    @Test
    void optionsThatWeakenIsolationAreRefusedByNameUnlessAllowed() throws Exception {
        JsonNode config = json("""
                {"privileged": true, "cap_add": ["SYS_ADMIN"], "device": "/dev/fuse", "security-opt": "seccomp=unconfined",
                 "pid": "host", "ipc": "host", "uts": "host", "userns": "host", "network": "host", "mount": "type=bind,src=/,dst=/h",
                 "volume": ["/:/host", "/var/run/docker.sock:/var/run/docker.sock", "/run/podman/podman.sock:/p.sock"],
                 "shiny_new_flag": "x"}""");
        List<Problem.FieldError> errors = ContainerOptions.check(config, Set.of());
        assertEquals(List.of("config.privileged", "config.cap_add", "config.device", "config.security-opt",
                "config.pid", "config.ipc", "config.uts", "config.userns", "config.network", "config.mount",
                "config.volume", "config.volume", "config.volume", "config.shiny_new_flag"), fields(errors));
        assertTrue(errors.get(8).message().contains("Kafka"), errors.get(8).message());
        assertTrue(errors.get(0).message().contains("target.allow"), errors.get(0).message());

        Set<String> allow = Set.of("privileged", "cap-add", "device", "security-opt", "pid=host", "ipc=host",
                "uts=host", "userns=host", "network=host", "mount", "volume=/", "volume=/var/run/docker.sock",
                "volume=/run/podman/podman.sock", "shiny-new-flag");
        assertEquals(List.of(), ContainerOptions.check(config, allow));
    }

    @Test
    void launchSetsTheNameAndEntrypointItselfAndFalseDropsAFlag() throws Exception {
        assertEquals(List.of("config.name", "config.entrypoint"),
                fields(ContainerOptions.check(json("{\"name\": \"x\", \"entrypoint\": \"sh\"}"), Set.of("name"))));
        assertEquals(List.of(), ContainerOptions.flags(json("{\"privileged\": false, \"rm\": true}")));
        assertEquals(List.of(), ContainerOptions.check(json("{\"privileged\": false, \"network\": \"bridge\"}"), Set.of()));
        assertEquals(List.of("config"), fields(ContainerOptions.check(json("[\"--gpus\", \"all\"]"), Set.of())));
    }
}
