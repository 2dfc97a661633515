package dev.launch.devstack;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** For tests: the committed records of a topic, from the beginning, as a read_committed consumer sees them. */
public final class TopicReader {
    private TopicReader() {
    }

    /**
     * The records with {@code key} (null: all) on every partition of {@code topic}: waits until at least
     * {@code atLeast} are there (up to 20 s, then returns what it has), then takes whatever else is already
     * there, so callers can assert exact counts.
     */
    public static List<ConsumerRecord<String, String>> read(String bootstrap, String topic, String key, int atLeast) {
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(Map.of(
                "bootstrap.servers", bootstrap, "isolation.level", "read_committed",
                "key.deserializer", StringDeserializer.class.getName(),
                "value.deserializer", StringDeserializer.class.getName()))) {
            List<TopicPartition> all = new ArrayList<>();
            consumer.partitionsFor(topic, Duration.ofSeconds(10))
                    .forEach(p -> all.add(new TopicPartition(topic, p.partition())));
            consumer.assign(all);
            consumer.seekToBeginning(all);
            List<ConsumerRecord<String, String>> found = new ArrayList<>();
            long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            while (found.size() < atLeast && System.nanoTime() < deadline) {
                poll(consumer, key, found, 100);
            }
            poll(consumer, key, found, 300);
            return found;
        }
    }

    private static void poll(KafkaConsumer<String, String> consumer, String key,
                             List<ConsumerRecord<String, String>> found, long millis) {
        for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(millis))) {
            if (key == null || key.equals(r.key())) {
                found.add(r);
            }
        }
    }
}
