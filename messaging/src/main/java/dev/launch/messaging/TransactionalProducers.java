package dev.launch.messaging;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.StringSerializer;
import org.jboss.logging.Logger;

import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.UUID;

/**
 * The transactional producers of the services that write several records as one fact (an enqueue, a move):
 * acks=all, idempotent, a transactional id stable for the instance ({@link #stableId}), transactions initialised. Not shared:
 * each writer owns one and replaces it after a fatal error.
 */
public final class TransactionalProducers {
    private static final Logger LOG = Logger.getLogger(TransactionalProducers.class);

    private TransactionalProducers() {
    }

    /** A transactional id for one writer of this process: {@code prefix} plus a random suffix. */
    public static String newId(String prefix) {
        return prefix + "-" + UUID.randomUUID();
    }

    /**
     * The transactional id of a writer that must fence its predecessor when it starts again: the configured one
     * if set, else {@code prefix-<host>-<port>}, the same after a restart of this instance (two live instances
     * never share a host and a port). A restarted writer then settles the transaction its crashed predecessor
     * left open at once, instead of leaving read_committed readers blocked until the transaction timeout (60 s).
     * In Kubernetes, set it from a StatefulSet's stable pod name.
     */
    public static String stableId(String prefix, java.util.Optional<String> configured, int port) {
        if (configured.isPresent() && !configured.get().isBlank()) {
            return configured.get().trim();
        }
        String host = System.getenv("HOSTNAME");
        if (host == null || host.isBlank()) {
            try {
                host = java.net.InetAddress.getLocalHost().getHostName();
            } catch (java.io.IOException e) {
                host = "localhost";
            }
        }
        return prefix + "-" + host.replaceAll("[^A-Za-z0-9._-]", "_") + "-" + port;
    }

    /**
     * A producer ready for {@code beginTransaction}; sends give up after {@code deliveryTimeout}. A writer keeps
     * its {@code transactionalId} for its whole life: a producer opened again after a failure with the same id
     * fences the old one and settles the transaction it left open at once, instead of leaving it to block
     * read_committed readers until the transaction timeout.
     */
    public static KafkaProducer<String, String> open(String bootstrap, String transactionalId,
                                                     Duration deliveryTimeout) {
        Map<String, Object> config = new HashMap<>();
        config.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        config.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalId);
        config.put(ProducerConfig.ACKS_CONFIG, "all");
        config.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        config.put(ProducerConfig.LINGER_MS_CONFIG, 0);
        config.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, (int) deliveryTimeout.toMillis());
        config.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, (int) Math.min(5000, deliveryTimeout.toMillis()));
        config.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, deliveryTimeout.toMillis());
        config.put(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, 60_000);
        config.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
        config.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
        KafkaProducer<String, String> created = new KafkaProducer<>(config);
        try {
            created.initTransactions();
        } catch (RuntimeException e) {
            created.close(Duration.ZERO);
            throw e;
        }
        return created;
    }

    /** Closes {@code producer} (null is fine), logging rather than throwing; returns null to clear the field. */
    public static KafkaProducer<String, String> close(KafkaProducer<String, String> producer) {
        if (producer != null) {
            try {
                producer.close(Duration.ofSeconds(2));
            } catch (RuntimeException e) {
                LOG.debug("closing a transactional producer failed", e);
            }
        }
        return null;
    }
}
