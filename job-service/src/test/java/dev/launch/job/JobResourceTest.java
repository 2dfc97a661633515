package dev.launch.job;

import dev.launch.common.event.EventEnvelope;
import dev.launch.common.event.EventTypes;
import dev.launch.common.event.Events;
import dev.launch.common.event.Topics;
import dev.launch.devstack.LaunchTestInfra;
import dev.launch.devstack.Git;
import dev.launch.devstack.SharedInfra;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.common.ResourceArg;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import static io.restassured.RestAssured.given;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

@QuarkusTest
@QuarkusTestResource(value = LaunchTestInfra.class, initArgs = @ResourceArg(name = "database", value = "jobs"))
class JobResourceTest {

    private static String unique(String prefix) {
        return prefix + "-" + UUID.randomUUID().toString().substring(0, 8);
    }

    private static Path codeDir(String script) throws IOException {
        Path dir = Files.createTempDirectory("job-code");
        Files.writeString(dir.resolve("train.sh"), script);
        return dir;
    }

    private static String codeJob(String name, Path dir) {
        return """
                {"name":"%s","description":"d","source":{"type":"code","artifact":"%s"},
                 "entrypoint":["sh","train.sh"],
                 "inputs":{"schema":{"type":"object","properties":{"lr":{"type":"number"}}},"defaults":{"lr":0.1}}}"""
                .formatted(name, dir);
    }

    @Test
    void sameSpecGivesTheSameVersionAndAChangedSpecTheNext() throws IOException {
        String name = unique("train");
        Path dir = codeDir("echo one\n");
        String digest = given().contentType(ContentType.JSON).body(codeJob(name, dir))
                .when().post("/api/v1/jobs")
                .then().statusCode(201)
                .header("Location", endsWith("/api/v1/jobs/" + name + "/versions/1"))
                .body("name", is(name)).body("version", is(1)).body("digest", startsWith("sha256:"))
                .body("source.snapshot", notNullValue())
                .extract().path("digest");
        given().contentType(ContentType.JSON).body(codeJob(name, dir))
                .when().post("/api/v1/jobs")
                .then().statusCode(200).body("version", is(1)).body("digest", is(digest));

        Files.writeString(dir.resolve("train.sh"), "echo two\n");
        given().contentType(ContentType.JSON).body(codeJob(name, dir))
                .when().post("/api/v1/jobs")
                .then().statusCode(201).body("version", is(2)).body("digest", not(digest));

        given().when().get("/api/v1/jobs/" + name).then().statusCode(200).body("version", is(2));
        given().when().get("/api/v1/jobs/" + name + "/versions/1").then().statusCode(200).body("digest", is(digest));
        given().when().get("/api/v1/jobs/" + name + "/versions").then().statusCode(200)
                .body("items.version", contains(1, 2));
        given().when().get("/api/v1/jobs?limit=500").then().statusCode(200)
                .body("items.find { it.name == '" + name + "' }.version", is(2));
    }

    @Test
    void aliasesPointAtVersionsAndLatestMovesByItself() throws IOException {
        String name = unique("alias");
        Path dir = codeDir("echo one\n");
        given().contentType(ContentType.JSON).body(codeJob(name, dir)).when().post("/api/v1/jobs").then().statusCode(201);
        given().contentType(ContentType.JSON).body("{\"version\":1}")
                .when().put("/api/v1/jobs/" + name + "/aliases/prod").then().statusCode(200).body("version", is(1));
        Files.writeString(dir.resolve("train.sh"), "echo two\n");
        given().contentType(ContentType.JSON).body(codeJob(name, dir)).when().post("/api/v1/jobs").then().statusCode(201);

        given().when().get("/api/v1/jobs/" + name + "/versions/prod").then().statusCode(200).body("version", is(1));
        given().when().get("/api/v1/jobs/" + name + "/versions/latest").then().statusCode(200).body("version", is(2));
        given().when().get("/api/v1/jobs/" + name + "/aliases").then().statusCode(200)
                .body("items.alias", contains("latest", "prod")).body("items.version", contains(2, 1));

        given().contentType(ContentType.JSON).body("{\"version\":2}")
                .when().put("/api/v1/jobs/" + name + "/aliases/prod").then().statusCode(200);
        given().when().get("/api/v1/jobs/" + name + "/versions/prod").then().statusCode(200).body("version", is(2));

        given().contentType(ContentType.JSON).body("{\"version\":1}")
                .when().put("/api/v1/jobs/" + name + "/aliases/latest").then().statusCode(400)
                .body("errors[0].field", is("alias"));
        given().contentType(ContentType.JSON).body("{\"version\":1}")
                .when().put("/api/v1/jobs/" + name + "/aliases/42").then().statusCode(400);
        given().contentType(ContentType.JSON).body("{\"version\":9}")
                .when().put("/api/v1/jobs/" + name + "/aliases/canary").then().statusCode(404);
        given().contentType(ContentType.JSON).body("{}")
                .when().put("/api/v1/jobs/" + name + "/aliases/canary").then().statusCode(400)
                .body("errors[0].field", is("version"));
        given().when().delete("/api/v1/jobs/" + name + "/aliases/prod").then().statusCode(204);
        given().when().get("/api/v1/jobs/" + name + "/versions/prod").then().statusCode(404);
        given().when().delete("/api/v1/jobs/" + name + "/aliases/prod").then().statusCode(404);
    }

    @Test
    void theSnapshotKeepsTheCodeOfItsVersion() throws IOException {
        String name = unique("snap");
        Path dir = codeDir("echo original\n");
        String snapshot = given().contentType(ContentType.JSON).body(codeJob(name, dir))
                .when().post("/api/v1/jobs").then().statusCode(201).extract().path("source.snapshot");
        Files.writeString(dir.resolve("train.sh"), "echo changed\n");
        assertEquals("echo original\n", Files.readString(Path.of(snapshot, "train.sh")));
    }

    @Test
    void aCodeSnapshotIsServedAsATarballThatTarUnpacks() throws Exception {
        String name = unique("tarball");
        Path dir = codeDir("echo from the archive\n");
        dir.resolve("train.sh").toFile().setExecutable(true);
        String deep = "data/" + "d".repeat(60) + "/" + "e".repeat(60) + "/weights.txt"; // past ustar's 100 bytes
        Files.createDirectories(dir.resolve(deep).getParent());
        Files.writeString(dir.resolve(deep), "0.1 0.2\n");
        given().contentType(ContentType.JSON).body(codeJob(name, dir)).when().post("/api/v1/jobs").then().statusCode(201);
        byte[] archive = given().when().get("/api/v1/jobs/" + name + "/versions/1/snapshot").then().statusCode(200)
                .contentType("application/gzip").header("ETag", startsWith("\"sha256:")).extract().asByteArray();
        Path file = Files.createTempFile("snapshot", ".tar.gz");
        Files.write(file, archive);
        Path out = Files.createTempDirectory("unpacked");
        Process tar = new ProcessBuilder("tar", "-xzf", file.toString(), "-C", out.toString()).redirectErrorStream(true)
                .start();
        assertEquals(0, tar.waitFor(), new String(tar.getInputStream().readAllBytes()));
        assertEquals("echo from the archive\n", Files.readString(out.resolve("train.sh")));
        assertTrue(Files.isExecutable(out.resolve("train.sh")), "the executable bit is kept");
        assertEquals("0.1 0.2\n", Files.readString(out.resolve(deep)));
        given().when().get("/api/v1/jobs/" + name + "/versions/7/snapshot").then().statusCode(404)
                .contentType("application/problem+json");
        String image = unique("img");
        given().contentType(ContentType.JSON).body("{\"name\":\"" + image + "\",\"source\":{\"type\":\"image\","
                + "\"image\":\"busybox\"}}").when().post("/api/v1/jobs").then().statusCode(201);
        given().when().get("/api/v1/jobs/" + image + "/versions/1/snapshot").then().statusCode(404)
                .body("detail", containsString("not a code snapshot"));
    }

    @Test
    void aGitRefIsResolvedToItsCommit() throws Exception {
        Path repo = Git.newRepo("job-git");
        Files.writeString(repo.resolve("train.py"), "print('hi')\n");
        String commit = Git.commitAll(repo, "first");
        String name = unique("gitjob");
        given().contentType(ContentType.JSON)
                .body("{\"name\":\"" + name + "\",\"source\":{\"type\":\"git\",\"remote\":\"" + repo
                        + "\",\"ref\":\"main\"},\"entrypoint\":[\"python3\",\"train.py\"]}")
                .when().post("/api/v1/jobs")
                .then().statusCode(201).body("source.commit", is(commit)).body("source.ref", is("main"));

        given().contentType(ContentType.JSON)
                .body("{\"name\":\"" + name + "\",\"source\":{\"type\":\"git\",\"remote\":\"" + repo
                        + "\",\"ref\":\"no-such-branch\"},\"entrypoint\":[\"python3\",\"train.py\"]}")
                .when().post("/api/v1/jobs")
                .then().statusCode(400).contentType("application/problem+json")
                .body("errors[0].field", is("source.ref")).body("detail", containsString("no-such-branch"));
    }

    @jakarta.inject.Inject
    io.smallrye.reactive.messaging.kafka.KafkaClientService kafkaClients;

    @Test
    void jobEventsAreProducedWithAcksAllAndIdempotence() {
        Map<String, ?> config = kafkaClients.getProducer("launch-jobs").configuration();
        assertEquals("all", String.valueOf(config.get("acks")));
        assertEquals("true", String.valueOf(config.get("enable.idempotence")));
    }

    @Test
    void imageSourcesAreRegistered() {
        String name = unique("img");
        given().contentType(ContentType.JSON)
                .body("{\"name\":\"" + name + "\",\"source\":{\"type\":\"image\",\"image\":\"python:3.12-slim\"}}")
                .when().post("/api/v1/jobs")
                .then().statusCode(201).body("source.image", is("python:3.12-slim"));
    }

    @Test
    void jobListsAreFilteredByNamePrefixAndSourceTypeAndPaged() throws IOException {
        String family = "fam-" + UUID.randomUUID().toString().substring(0, 8);
        for (int i = 0; i < 3; i++) {
            given().contentType(ContentType.JSON).body(codeJob(family + "_code" + i, codeDir("echo " + i + "\n")))
                    .when().post("/api/v1/jobs").then().statusCode(201);
        }
        given().contentType(ContentType.JSON)
                .body("{\"name\":\"" + family + "_img\",\"source\":{\"type\":\"image\",\"image\":\"python:3.12\"}}")
                .when().post("/api/v1/jobs").then().statusCode(201);
        // '_' in the prefix is a character, not a wildcard
        given().contentType(ContentType.JSON)
                .body("{\"name\":\"" + family + "xcode9\",\"source\":{\"type\":\"image\",\"image\":\"x\"}}")
                .when().post("/api/v1/jobs").then().statusCode(201);

        given().when().get("/api/v1/jobs?prefix=" + family + "_").then().statusCode(200)
                .body("items.name", contains(family + "_code0", family + "_code1", family + "_code2", family + "_img"));
        given().when().get("/api/v1/jobs?prefix=" + family + "&sourceType=image").then().statusCode(200)
                .body("items.name", contains(family + "_img", family + "xcode9"));
        String next = given().when().get("/api/v1/jobs?prefix=" + family + "_code&limit=2").then().statusCode(200)
                .body("items.name", contains(family + "_code0", family + "_code1")).extract().path("next");
        given().when().get("/api/v1/jobs?prefix=" + family + "_code&limit=2&after=" + next).then().statusCode(200)
                .body("items.name", contains(family + "_code2")).body("next", nullValue());

        given().when().get("/api/v1/jobs?sourceType=docker").then().statusCode(400)
                .contentType("application/problem+json").body("errors[0].field", is("sourceType"));
        given().when().get("/api/v1/jobs?prefix=Bad%25").then().statusCode(400).body("errors[0].field", is("prefix"));
    }

    @Test
    void aNewVersionIsPublishedOnTheJobsTopic() throws IOException {
        String name = unique("published");
        given().contentType(ContentType.JSON).body(codeJob(name, codeDir("echo hi\n")))
                .when().post("/api/v1/jobs").then().statusCode(201);
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(Map.of(
                "bootstrap.servers", SharedInfra.kafkaBootstrap(),
                "key.deserializer", StringDeserializer.class.getName(),
                "value.deserializer", StringDeserializer.class.getName()))) {
            TopicPartition partition = new TopicPartition(Topics.JOBS, 0);
            consumer.assign(List.of(partition));
            consumer.seekToBeginning(List.of(partition));
            List<ConsumerRecord<String, String>> mine = new ArrayList<>();
            await().atMost(20, TimeUnit.SECONDS).until(() -> {
                consumer.poll(Duration.ofMillis(200)).forEach(r -> {
                    if (name.equals(r.key())) {
                        mine.add(r);
                    }
                });
                return !mine.isEmpty();
            });
            EventEnvelope event = Events.decode(mine.get(0).value());
            assertEquals(EventTypes.JOB_VERSION_CREATED, event.type());
            assertEquals(name, event.subject());
            assertEquals(1, event.payload().get("job").get("version").asInt());
        }
    }

    @Test
    void badInputIsRefusedWithProblemJsonAndNothingIsStored() {
        String name = unique("bad");
        given().contentType(ContentType.JSON).body("{\"name\": \"" + name + "\", ")
                .when().post("/api/v1/jobs")
                .then().statusCode(400).contentType("application/problem+json")
                .body("title", is("Malformed JSON")).body("detail", containsString("JSON"));
        given().contentType(ContentType.JSON)
                .body("{\"name\":\"" + name + "\",\"source\":{\"type\":\"image\",\"image\":\"x\"},\"entrypoint\":\"run\"}")
                .when().post("/api/v1/jobs")
                .then().statusCode(400).contentType("application/problem+json")
                .body("errors[0].field", is("entrypoint"));
        given().contentType(ContentType.JSON).body("{\"name\":\"" + name + "\"}")
                .when().post("/api/v1/jobs")
                .then().statusCode(400).body("errors[0].field", is("source"));
        given().contentType(ContentType.JSON)
                .body("{\"name\":\"" + name + "\",\"source\":{\"type\":\"code\",\"artifact\":\"/no/such/dir\"},"
                        + "\"entrypoint\":[\"sh\"]}")
                .when().post("/api/v1/jobs")
                .then().statusCode(400).body("errors[0].field", is("source.artifact"));
        // a file of the service's machine outside launch.code.server-paths (this profile: the temp directory)
        given().contentType(ContentType.JSON)
                .body("{\"name\":\"" + name + "\",\"source\":{\"type\":\"code\",\"artifact\":\"/etc/hostname\"},"
                        + "\"entrypoint\":[\"sh\"]}")
                .when().post("/api/v1/jobs")
                .then().statusCode(400).contentType("application/problem+json")
                .body("errors[0].field", is("source.artifact")).body("detail", containsString("is not under"))
                .body("detail", containsString("/api/v1/uploads"));
        given().contentType(ContentType.JSON)
                .body("{\"name\":\"" + name + "\",\"source\":{\"type\":\"image\",\"image\":\"x\"},"
                        + "\"inputs\":{\"schema\":{\"type\":\"banana\"}}}")
                .when().post("/api/v1/jobs")
                .then().statusCode(400).body("errors[0].field", startsWith("inputs.schema"));
        given().contentType(ContentType.JSON)
                .body("{\"name\":\"" + name + "\",\"source\":{\"type\":\"image\",\"image\":\"x\"},\"colour\":1}")
                .when().post("/api/v1/jobs")
                .then().statusCode(400).body("errors[0].field", is("colour"));
        given().contentType(ContentType.JSON)
                .body("{\"name\":\"Bad Name\",\"source\":{\"type\":\"image\",\"image\":\"x\"}}")
                .when().post("/api/v1/jobs")
                .then().statusCode(400).body("errors[0].field", is("name"));
        // strict types (StrictJson): nothing is coerced, and a key given twice is not the last one's
        given().contentType(ContentType.JSON)
                .body("{\"name\":\"" + name + "\",\"source\":{\"type\":\"image\",\"image\":42}}")
                .when().post("/api/v1/jobs")
                .then().statusCode(400).contentType("application/problem+json")
                .body("errors[0].field", is("source.image")).body("detail", containsString("a string"));
        given().contentType(ContentType.JSON)
                .body("{\"name\":\"" + name + "\",\"source\":{\"type\":\"image\",\"image\":\"x\"},"
                        + "\"entrypoint\":[\"sleep\",5]}")
                .when().post("/api/v1/jobs")
                .then().statusCode(400).body("errors[0].field", is("entrypoint[1]"));
        given().contentType(ContentType.JSON)
                .body("{\"name\":\"" + name + "\",\"source\":{\"type\":\"image\",\"image\":\"x\",\"image\":\"y\"}}")
                .when().post("/api/v1/jobs")
                .then().statusCode(400).contentType("application/problem+json")
                .body("errors[0].field", is("source.image")).body("detail", containsString("given twice"));
        given().contentType(ContentType.JSON).body("{\"name\":\"" + name + "\",\"pad\":\"" + "x".repeat(1_100_000) + "\"}")
                .when().post("/api/v1/jobs")
                .then().statusCode(413).contentType("application/problem+json");
        // a NUL in a query or path never reaches the database (it was a 500 there: found by HostileInputIT)
        given().urlEncodingEnabled(false).when().get("/api/v1/jobs?after=a%00b").then().statusCode(400)
                .contentType("application/problem+json").body("detail", containsString("NUL"));
        given().urlEncodingEnabled(false).when().get("/api/v1/jobs/a%00b/versions").then().statusCode(400)
                .contentType("application/problem+json");
        given().when().get("/api/v1/jobs/" + name).then().statusCode(404).contentType("application/problem+json");
        given().when().get("/api/v1/jobs/" + name + "/versions/x").then().statusCode(404)
                .body("detail", containsString("no version or alias 'x'"));
        given().when().get("/api/v1/jobs/" + name + "/versions/Not An Alias").then().statusCode(400)
                .body("errors[0].field", is("version"));
    }

}
