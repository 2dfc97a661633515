package dev.launch.web;

import io.quarkus.arc.properties.UnlessBuildProperty;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.core.Response;
import org.eclipse.microprofile.config.inject.ConfigProperty;

import java.net.URI;

/**
 * A browser that opens a service's root is sent to the dashboard, which the status service serves
 * ({@code launch.dashboard.url}); left out of the status service itself, whose root is the dashboard.
 */
@Path("/")
@UnlessBuildProperty(name = "launch.dashboard.served-here", stringValue = "true", enableIfMissing = true)
public class DashboardLink {
    @ConfigProperty(name = "launch.dashboard.url", defaultValue = "http://127.0.0.1:8084/")
    URI dashboard;

    @GET
    public Response root() {
        return Response.seeOther(dashboard).build();
    }
}
