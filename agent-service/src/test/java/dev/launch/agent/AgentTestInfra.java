package dev.launch.agent;

import dev.launch.messaging.TopicAdmin;
import dev.launch.devstack.LaunchTestInfra;
import dev.launch.devstack.SharedInfra;
import org.apache.kafka.clients.admin.Admin;

import java.util.HashMap;
import java.util.Map;

/**
 * The shared broker plus the test queues' topics, created before the agent starts serving them: one queue
 * without priorities, one with (a topic per level), and one whose runs the container tests send to the real
 * engine (podman with runc, a busybox image made here, images never pulled, this JVM's own installation id), and
 * one whose runs go to a Kubernetes API server (fabric8's mock, played by {@link #cluster()}), and one whose runs
 * are SageMaker training jobs (a stub of its API, played by {@link #sageMaker()}).
 * Quarkus applies a test resource to every test class, so this one serves them all.
 */
public class AgentTestInfra extends LaunchTestInfra {
    public static final String QUEUE = "agent-test";
    public static final String PRIORITY_QUEUE = "agent-prio";
    public static final String CONTAINER_QUEUE = "agent-containers";
    public static final String KUBERNETES_QUEUE = "agent-kubernetes";
    public static final String SAGEMAKER_QUEUE = "agent-sagemaker";
    public static final String INSTALLATION = "test-" + java.util.UUID.randomUUID();
    private static dev.launch.devstack.KubernetesTestCluster cluster;
    private static dev.launch.devstack.SageMakerStub sageMaker;

    /** The SageMaker and CloudWatch Logs APIs the agent's sagemaker target uses (a stateful stub, played by the test). */
    public static synchronized dev.launch.devstack.SageMakerStub sageMaker() {
        if (sageMaker == null) {
            sageMaker = dev.launch.devstack.SageMakerStub.start();
            Runtime.getRuntime().addShutdownHook(new Thread(sageMaker::close, "sagemaker-stub-stop"));
        }
        return sageMaker;
    }

    /** The Kubernetes API server the agent's kubernetes target uses (fabric8's mock, played by the test). */
    public static synchronized dev.launch.devstack.KubernetesTestCluster cluster() {
        if (cluster == null) {
            cluster = new dev.launch.devstack.KubernetesTestCluster();
            Runtime.getRuntime().addShutdownHook(new Thread(cluster::close, "test-cluster-stop"));
        }
        return cluster;
    }

    @Override
    public Map<String, String> start() {
        Map<String, String> config = new HashMap<>(super.start());
        try (Admin admin = Admin.create(Map.of("bootstrap.servers", SharedInfra.kafkaBootstrap()))) {
            TopicAdmin.ensureShared(admin);
            TopicAdmin.ensure(admin, TopicAdmin.queueTopics(QUEUE, false));
            TopicAdmin.ensure(admin, TopicAdmin.queueTopics(PRIORITY_QUEUE, true));
            TopicAdmin.ensure(admin, TopicAdmin.queueTopics(CONTAINER_QUEUE, false));
            TopicAdmin.ensure(admin, TopicAdmin.queueTopics(KUBERNETES_QUEUE, false));
            TopicAdmin.ensure(admin, TopicAdmin.queueTopics(SAGEMAKER_QUEUE, false));
        }
        config.put("launch.agent.queues", QUEUE + "," + PRIORITY_QUEUE + "," + CONTAINER_QUEUE + "," + KUBERNETES_QUEUE
                + "," + SAGEMAKER_QUEUE);
        // the AWS SDK's default chains read these as they read AWS_ACCESS_KEY_ID and AWS_REGION
        System.setProperty("aws.accessKeyId", "test");
        System.setProperty("aws.secretAccessKey", "test");
        System.setProperty("aws.region", "us-east-1");
        config.put("launch.agent.sagemaker.endpoint-url", sageMaker().endpoint());
        config.put("launch.agent.sagemaker.poll-min", "PT0.1S");
        config.put("launch.agent.sagemaker.poll-max", "PT0.5S");
        config.put("launch.agent.sagemaker.log-interval", "PT0.1S");
        config.put("launch.agent.sagemaker.log-quiet", "PT0.3S");
        config.put("launch.agent.kubernetes.api-server", cluster().url());
        config.put("launch.agent.max-jobs", "1");
        config.put("launch.agent.installation", INSTALLATION);
        config.put("launch.agent.container.engine", dev.launch.devstack.Podman.engineCommand());
        config.put("launch.agent.container.base-image", dev.launch.devstack.Podman.IMAGE);
        config.put("launch.agent.container.pull", "never");
        return config;
    }
}
