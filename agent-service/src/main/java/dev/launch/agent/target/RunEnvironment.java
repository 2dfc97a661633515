package dev.launch.agent.target;

import dev.launch.common.event.RunRequest;

import java.util.LinkedHashMap;
import java.util.Map;

/** What every launched run sees in its environment (design §6), whatever the target. */
public final class RunEnvironment {
    private RunEnvironment() {
    }

    public static Map<String, String> of(RunRequest request) {
        Map<String, String> env = new LinkedHashMap<>();
        env.put("LAUNCH_RUN_ID", request.runId());
        env.put("LAUNCH_JOB", request.jobRef());
        env.put("LAUNCH_QUEUE", request.queue());
        env.put("LAUNCH_ATTEMPT", String.valueOf(request.attempt()));
        env.put("LAUNCH_INPUTS", request.inputs() == null ? "{}" : request.inputs().toString());
        return env;
    }
}
