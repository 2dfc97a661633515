package dev.launch.agent.dispatch;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.launch.agent.supervise.RunSupervisor;
import dev.launch.common.event.RunRequest;
import dev.launch.common.job.JobSource;
import org.junit.jupiter.api.Test;

import java.time.Instant;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

class MacroExpansionTest {

    private static RunRequest request(ObjectNode target) {
        return new RunRequest("0190a0a0-0000-7000-8000-000000000001", "gpu", "train", 4, "sha256:x",
                new JobSource(JobSource.CODE, null, null, null, null, "/a", "/b"), List.of("sh"),
                JsonNodeFactory.instance.objectNode(), target, 2, 3, null, Instant.now(), null);
    }

    @Test
    void theAgentFillsTheRunsMacrosIntoTheTargetConfig() {
        ObjectNode target = JsonNodeFactory.instance.objectNode().put("type", "local-process");
        target.putObject("config").put("name", "${queue}-${run_id}").put("job", "${job}:${job_version}#${attempt}");
        RunRequest expanded = RunSupervisor.withMacrosExpanded(request(target));
        assertEquals("gpu-0190a0a0-0000-7000-8000-000000000001", expanded.target().at("/config/name").asText());
        assertEquals("train:4#2", expanded.target().at("/config/job").asText());
        assertEquals("${queue}-${run_id}", target.at("/config/name").asText(), "the claimed request is unchanged");
    }

    @Test
    void aTargetWithoutConfigIsLeftAsItIs() {
        RunRequest plain = request(JsonNodeFactory.instance.objectNode().put("type", "local-process"));
        assertSame(plain, RunSupervisor.withMacrosExpanded(plain));
    }
}
