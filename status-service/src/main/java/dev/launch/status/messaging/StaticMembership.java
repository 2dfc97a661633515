package dev.launch.status.messaging;

import dev.launch.messaging.TransactionalProducers;
import io.smallrye.common.annotation.Identifier;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Produces;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

import java.util.Map;
import java.util.Optional;

/**
 * The Kafka settings the status service's consumers share (SmallRye's {@code kafka-configuration}): a stable
 * {@code group.instance.id} (Kafka's static membership), so an instance that starts again — after a crash or a
 * kill -9 — gets its partitions back at once instead of waiting for the group to give up on its dead
 * predecessor (the session timeout, then a rebalance: 7.7 s measured before). The id is the configured one, else
 * {@code launch-status-<host>-<port>}, as for the move writer's transactional id; each channel has a group of its
 * own, so one id serves all three. A static member that stops does not leave its group: another instance takes its
 * partitions after the session timeout (10 s), as after a crash.
 */
@ApplicationScoped
public class StaticMembership {
    private static final Logger LOG = Logger.getLogger(StaticMembership.class);

    @ConfigProperty(name = "launch.status.instance-id")
    Optional<String> configured;
    @ConfigProperty(name = "quarkus.http.port")
    int port;

    @Produces
    @Identifier("launch-status-consumers")
    Map<String, Object> consumers() {
        String id = TransactionalProducers.stableId("launch-status", configured, port);
        LOG.infof("consumer group instance id: %s", id);
        return Map.of("group.instance.id", id);
    }
}
