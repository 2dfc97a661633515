package dev.launch.agent;

import dev.launch.common.event.TopicAdmin;
import dev.launch.devstack.LaunchTestInfra;
import dev.launch.devstack.SharedInfra;
import org.apache.kafka.clients.admin.Admin;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** The shared broker plus the test queue's topic, created before the agent starts serving it. */
public class AgentTestInfra extends LaunchTestInfra {
    public static final String QUEUE = "agent-test";

    @Override
    public Map<String, String> start() {
        Map<String, String> config = new HashMap<>(super.start());
        try (Admin admin = Admin.create(Map.of("bootstrap.servers", SharedInfra.kafkaBootstrap()))) {
            TopicAdmin.ensureShared(admin);
            TopicAdmin.ensure(admin, List.of(TopicAdmin.queueTopic(QUEUE)));
        }
        config.put("launch.agent.queues", QUEUE);
        config.put("launch.agent.max-jobs", "1");
        return config;
    }
}
