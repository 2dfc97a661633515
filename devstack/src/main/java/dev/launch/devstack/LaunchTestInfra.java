package dev.launch.devstack;

import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;

import java.util.HashMap;
import java.util.Map;

/**
 * Quarkus test resource pointing a service at the JVM's shared Kafka broker and PostgreSQL.
 * Init arg {@code database}: the database to create and use ({@code none} for a service without one).
 */
public class LaunchTestInfra implements QuarkusTestResourceLifecycleManager {
    private String database = "none";

    @Override
    public void init(Map<String, String> initArgs) {
        database = initArgs.getOrDefault("database", "none");
    }

    @Override
    public Map<String, String> start() {
        Map<String, String> config = new HashMap<>();
        config.put("kafka.bootstrap.servers", SharedInfra.kafkaBootstrap());
        if (!"none".equals(database)) {
            int port = SharedInfra.database(database);
            config.put("quarkus.datasource.jdbc.url", "jdbc:postgresql://127.0.0.1:" + port + "/" + database);
            config.put("quarkus.datasource.reactive.url", "postgresql://127.0.0.1:" + port + "/" + database);
            config.put("quarkus.datasource.username", "postgres");
            config.put("quarkus.datasource.password", "postgres");
        }
        return config;
    }

    @Override
    public void stop() {
        // shared for the whole JVM; stopped by SharedInfra's shutdown hook
    }
}
