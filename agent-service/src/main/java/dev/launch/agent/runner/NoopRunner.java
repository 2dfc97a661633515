package dev.launch.agent.runner;

import dev.launch.common.event.RunRequest;
import jakarta.enterprise.context.ApplicationScoped;

import java.time.Duration;

/**
 * The {@code noop} target: a run goes through every state (STARTING, RUNNING, FINISHED with exit code 0) at
 * once, without starting anything. It measures the control plane alone (the benchmark) and lets users try a
 * queue's configuration without using compute (dry runs).
 */
@ApplicationScoped
public class NoopRunner implements Runner {
    public static final String TYPE = "noop";

    @Override
    public String targetType() {
        return TYPE;
    }

    @Override
    public void launch(RunRequest request, RunReporter reporter) {
        reporter.starting();
        if (!reporter.launching()) {
            return;
        }
        reporter.running("noop:" + request.runId());
        reporter.exited(0);
    }

    @Override
    public void stop(String runId) {
        // nothing runs: a noop run has ended before a stop can reach it
    }

    @Override
    public void stopAll(Duration within) {
        // nothing runs
    }
}
