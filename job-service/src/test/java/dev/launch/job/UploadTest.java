package dev.launch.job;

import dev.launch.common.job.CodeArchive;
import dev.launch.devstack.LaunchTestInfra;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.common.ResourceArg;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Random;
import java.util.UUID;
import java.util.zip.GZIPOutputStream;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Code uploaded from a machine that is not the job service's: POST /api/v1/uploads, then a job of it. */
@QuarkusTest
@QuarkusTestResource(value = LaunchTestInfra.class, initArgs = @ResourceArg(name = "database", value = "jobs"))
class UploadTest {
    private static String unique(String prefix) {
        return prefix + "-" + UUID.randomUUID().toString().substring(0, 8);
    }

    private static byte[] archive(Path dir) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        CodeArchive.write(dir, out);
        return out.toByteArray();
    }

    private static String upload(byte[] archive) {
        return given().contentType("application/gzip").body(archive).when().post("/api/v1/uploads").then()
                .statusCode(201).body("artifact", startsWith("upload:sha256:")).extract().path("artifact");
    }

    private static String createJob(String name, String artifact) {
        return given().contentType(ContentType.JSON).body("{\"name\":\"" + name + "\",\"source\":{\"type\":\"code\","
                        + "\"artifact\":\"" + artifact + "\"},\"entrypoint\":[\"sh\",\"run.sh\"]}")
                .when().post("/api/v1/jobs").then().statusCode(201).extract().path("digest");
    }

    @Test
    void uploadedCodeMakesTheSameSnapshotAndJobAsTheSameDirectoryGivenByPath() throws IOException {
        Path dir = Files.createTempDirectory("upload-code");
        Files.createDirectories(dir.resolve("pkg"));
        Files.writeString(dir.resolve("pkg/model.py"), "weights = 1\n");
        Path script = Files.writeString(dir.resolve("run.sh"), "echo uploaded\n");
        Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwxr-xr-x"));
        byte[] big = new byte[3 << 20]; // 3 MiB that gzip cannot shrink: past the 1 MiB limit of JSON bodies
        new Random(7).nextBytes(big);
        Files.write(dir.resolve("weights.bin"), big);

        String artifact = upload(archive(dir));
        String name = unique("uploaded");
        String uploadedDigest = createJob(name, artifact);
        String snapshot = given().when().get("/api/v1/jobs/" + name).then().statusCode(200)
                .body("source.artifact", is(artifact)).extract().path("source.snapshot");
        assertEquals("echo uploaded\n", Files.readString(Path.of(snapshot, "run.sh")));
        assertTrue(Files.isExecutable(Path.of(snapshot, "run.sh")), "the executable bit travels");
        assertEquals(big.length, Files.size(Path.of(snapshot, "weights.bin")));

        assertEquals(uploadedDigest, createJob(unique("by-path"), dir.toString()),
                "the same files are the same code, uploaded or read from a path");
        assertEquals(artifact, upload(archive(dir)), "content-addressed: the same upload twice is one artifact");
    }

    @Test
    void anArchiveThatWouldWriteOutsideItsDirectoryIsRefusedAndChangesNothing() throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (GZIPOutputStream gzip = new GZIPOutputStream(bytes)) {
            byte[] content = "pwned\n".getBytes(StandardCharsets.UTF_8);
            byte[] header = new byte[512];
            byte[] name = "../../escaped.sh".getBytes(StandardCharsets.US_ASCII);
            System.arraycopy(name, 0, header, 0, name.length);
            System.arraycopy("0000644\0".getBytes(StandardCharsets.US_ASCII), 0, header, 100, 8);
            System.arraycopy(String.format("%011o\0", content.length).getBytes(StandardCharsets.US_ASCII), 0, header, 124, 12);
            header[156] = '0';
            gzip.write(header);
            gzip.write(content);
            gzip.write(new byte[512 - content.length + 1024]);
        }
        given().contentType("application/gzip").body(bytes.toByteArray()).when().post("/api/v1/uploads").then()
                .statusCode(400).contentType("application/problem+json").body("errors[0].field", is("body"))
                .body("errors[0].message", containsString("'../../escaped.sh' climbs out of the archive"));
        assertTrue(!Files.exists(Path.of("target/escaped.sh")) && !Files.exists(Path.of("escaped.sh")));
    }

    @Test
    void uploadsAreRefusedOverTheirLimitOfTheWrongTypeOrUnknown() {
        byte[] tooBig = new byte[(8 << 20) + 1]; // %test.launch.code.max-upload-bytes is 8 MiB
        given().contentType("application/gzip").body(tooBig).when().post("/api/v1/uploads").then().statusCode(413)
                .body("detail", containsString("larger than 8388608 bytes"));
        given().contentType(ContentType.JSON).body("{}").when().post("/api/v1/uploads").then().statusCode(415)
                .body("detail", containsString("Content-Type: application/gzip"));
        given().contentType("application/gzip").body("not gzip".getBytes(StandardCharsets.UTF_8)).when()
                .post("/api/v1/uploads").then().statusCode(400).body("errors[0].message", startsWith("not a gzipped tar"));
        given().contentType(ContentType.JSON).body("{\"name\":\"" + unique("ghost") + "\",\"source\":{\"type\":\"code\","
                        + "\"artifact\":\"upload:sha256:" + "0".repeat(64) + "\"},\"entrypoint\":[\"sh\"]}")
                .when().post("/api/v1/jobs").then().statusCode(400).body("errors[0].field", is("source.artifact"))
                .body("errors[0].message", containsString("upload the code first"));
    }
}
