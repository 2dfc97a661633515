package dev.launch.agent.target.noop;

import dev.launch.agent.target.Target;
import dev.launch.agent.target.TargetObserver;
import dev.launch.common.event.RunRequest;
import jakarta.enterprise.context.ApplicationScoped;

import java.time.Duration;

/**
 * The {@code noop} target: a run goes through every state (STARTING, RUNNING, FINISHED with exit code 0) at
 * once, without starting anything. It measures the control plane alone (the benchmark) and lets users try a
 * queue's configuration without using compute (dry runs). Nothing outlives the agent, so nothing is adoptable.
 */
@ApplicationScoped
public class NoopTarget implements Target {
    public static final String TYPE = "noop";

    @Override
    public String type() {
        return TYPE;
    }

    @Override
    public boolean adoptable() {
        return false;
    }

    @Override
    public void submit(RunRequest request, String handle, TargetObserver observer) {
        if (!observer.launching()) {
            return;
        }
        observer.running();
        observer.exited(0);
    }

    @Override
    public void stop(String handle) {
        // nothing runs: a noop run has ended before a stop can reach it
    }

    @Override
    public void shutdown(Duration within) {
        // nothing runs
    }
}
