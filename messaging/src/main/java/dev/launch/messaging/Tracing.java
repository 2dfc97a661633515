package dev.launch.messaging;

import io.opentelemetry.api.OpenTelemetry;
import io.opentelemetry.api.trace.Tracer;
import jakarta.annotation.PostConstruct;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Instance;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/**
 * The tracer Launch's own spans are made with (a run's enqueue, take, submit, stop, and the status service applying
 * its facts). With the SDK off ({@code quarkus.otel.sdk.disabled}, the default) it is OpenTelemetry's no-op tracer:
 * the SDK Quarkus keeps then still makes spans with fresh ids (only exports none), and those would be written into
 * every run's records and request for nothing.
 */
@ApplicationScoped
public class Tracing {
    @ConfigProperty(name = "quarkus.otel.sdk.disabled", defaultValue = "true")
    boolean disabled;
    @Inject
    Instance<OpenTelemetry> openTelemetry;

    private Tracer tracer;

    @PostConstruct
    void init() {
        tracer = disabled || !openTelemetry.isResolvable() ? OpenTelemetry.noop().getTracer("dev.launch")
                : openTelemetry.get().getTracer("dev.launch");
    }

    public Tracer tracer() {
        return tracer;
    }

    /** Whether spans are made and exported. */
    public boolean enabled() {
        return !disabled && openTelemetry.isResolvable();
    }
}
