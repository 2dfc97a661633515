package dev.launch.agent;

import dev.launch.common.event.TopicAdmin;
import dev.launch.devstack.LaunchTestInfra;
import dev.launch.devstack.SharedInfra;
import org.apache.kafka.clients.admin.Admin;

import java.util.HashMap;
import java.util.Map;

/**
 * The shared broker plus the test queues' topics, created before the agent starts serving them: one queue
 * without priorities and one with (a topic per level).
 */
public class AgentTestInfra extends LaunchTestInfra {
    public static final String QUEUE = "agent-test";
    public static final String PRIORITY_QUEUE = "agent-prio";

    @Override
    public Map<String, String> start() {
        Map<String, String> config = new HashMap<>(super.start());
        try (Admin admin = Admin.create(Map.of("bootstrap.servers", SharedInfra.kafkaBootstrap()))) {
            TopicAdmin.ensureShared(admin);
            TopicAdmin.ensure(admin, TopicAdmin.queueTopics(QUEUE, false));
            TopicAdmin.ensure(admin, TopicAdmin.queueTopics(PRIORITY_QUEUE, true));
        }
        config.put("launch.agent.queues", QUEUE + "," + PRIORITY_QUEUE);
        config.put("launch.agent.max-jobs", "1");
        return config;
    }
}
