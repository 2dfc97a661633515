package dev.launch.agent;

import dev.launch.common.event.EventEnvelope;
import dev.launch.common.event.Events;
import dev.launch.common.event.Topics;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

/** Records every event on a topic (all partitions, from the start) in arrival order. */
public class RunEventsRecorder implements AutoCloseable {
    private final List<EventEnvelope> events = new CopyOnWriteArrayList<>();
    private final Thread thread;
    private volatile boolean running = true;

    public RunEventsRecorder(String bootstrap, String topic) {
        thread = new Thread(() -> {
            try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(Map.of(
                    "bootstrap.servers", bootstrap, "isolation.level", "read_committed",
                    "key.deserializer", StringDeserializer.class.getName(),
                    "value.deserializer", StringDeserializer.class.getName()))) {
                List<TopicPartition> partitions = new ArrayList<>();
                consumer.partitionsFor(topic).forEach(p -> partitions.add(new TopicPartition(topic, p.partition())));
                consumer.assign(partitions);
                consumer.seekToBeginning(partitions);
                while (running) {
                    for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(100))) {
                        events.add(Events.decode(r.value()));
                    }
                }
            }
        }, "recorder-" + topic);
        thread.setDaemon(true);
        thread.start();
    }

    public static RunEventsRecorder runs(String bootstrap) {
        return new RunEventsRecorder(bootstrap, Topics.RUNS);
    }

    public List<EventEnvelope> of(String subject) {
        return events.stream().filter(e -> subject.equals(e.subject())).toList();
    }

    public List<String> typesOf(String subject) {
        return of(subject).stream().map(EventEnvelope::type).toList();
    }

    public List<EventEnvelope> all() {
        return List.copyOf(events);
    }

    @Override
    public void close() {
        running = false;
    }
}
