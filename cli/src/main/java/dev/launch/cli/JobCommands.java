package dev.launch.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static dev.launch.cli.Api.Service.JOB;
import static dev.launch.cli.Api.segment;
import static dev.launch.cli.Output.Column;

@Command(name = "job", description = "Jobs: versioned blueprints of work (code, git or image, an entrypoint, inputs).",
        subcommands = {JobCommands.Create.class, JobCommands.ListJobs.class, JobCommands.Describe.class,
                JobCommands.Alias.class})
final class JobCommands {
    private JobCommands() {
    }

    static final List<Column> LIST = List.of(Column.of("NAME", "name"), Column.of("VERSION", "version"),
            new Column("SOURCE", j -> source(j.path("source"))), new Column("ENTRYPOINT", j -> argv(j.path("entrypoint"))),
            new Column("CREATED", j -> Output.age(j.path("createdAt")) + " ago"));

    static final List<Column> ITEM = List.of(Column.of("Name", "name"), Column.of("Version", "version"),
            Column.of("Digest", "digest"), Column.of("Description", "description"),
            new Column("Source", j -> source(j.path("source"))), new Column("Entrypoint", j -> argv(j.path("entrypoint"))),
            new Column("Inputs schema", j -> compact(j.path("inputs").path("schema"))),
            new Column("Defaults", j -> compact(j.path("inputs").path("defaults"))),
            Column.of("Created", "createdAt"));

    @Command(name = "create", description = "Register a job, or a new version of it when its spec changed (the same "
            + "spec answers the existing version).",
            footer = {"", "Examples:",
                    "  launch job create train --code ./src -- python train.py --epochs 3",
                    "  launch job create train --git https://github.com/acme/ml.git --ref v1.2 -- python train.py",
                    "  launch job create infer --image ghcr.io/acme/infer:3 --inputs-schema schema.json"})
    static final class Create extends Base {
        @Parameters(index = "0", paramLabel = "NAME", description = "The job's name: [a-z0-9][a-z0-9._-]{0,62}.")
        String name;

        @ArgGroup(multiplicity = "1")
        SourceOptions source;

        static final class SourceOptions {
            @Option(names = "--code", paramLabel = "DIR", required = true,
                    description = "A directory of code, uploaded to the job service (without .git and what its "
                            + ".launchignore names) and kept there as a content-addressed snapshot.")
            Path code;

            @ArgGroup(exclusive = false)
            Git git;

            @Option(names = "--image", paramLabel = "IMAGE", required = true, description = "A container image.")
            String image;
        }

        static final class Git {
            @Option(names = "--git", paramLabel = "URL", required = true, description = "A git repository.")
            String remote;

            @Option(names = "--ref", paramLabel = "REF", description = "Branch, tag or commit (default: main).")
            String ref;
        }

        @Option(names = "--description", paramLabel = "TEXT")
        String description;

        @Option(names = "--inputs-schema", paramLabel = "FILE", description = "A JSON Schema (JSON or YAML) of the inputs.")
        String inputsSchema;

        @Option(names = "--defaults", paramLabel = "FILE", description = "Default inputs (a JSON or YAML object).")
        String defaults;

        @Parameters(index = "1..*", paramLabel = "ENTRYPOINT", description = "After '--': the entrypoint's argv.")
        List<String> entrypoint;

        @Override
        int execute() {
            ObjectNode body = Json.object().put("name", name);
            if (description != null) {
                body.put("description", description);
            }
            ObjectNode src = body.putObject("source");
            if (source.code != null) {
                src.put("type", "code").put("artifact", upload(this, source.code));
            } else if (source.git != null) {
                src.put("type", "git").put("remote", source.git.remote).put("ref",
                        source.git.ref == null ? "main" : source.git.ref);
            } else {
                src.put("type", "image").put("image", source.image);
            }
            if (entrypoint != null && !entrypoint.isEmpty()) {
                entrypoint.forEach(body.putArray("entrypoint")::add);
            }
            if (inputsSchema != null || defaults != null) {
                ObjectNode inputs = body.putObject("inputs");
                if (inputsSchema != null) {
                    inputs.set("schema", Json.readFile("--inputs-schema", inputsSchema));
                }
                if (defaults != null) {
                    JsonNode values = Json.readFile("--defaults", defaults);
                    if (!values.isObject()) {
                        throw CliException.usage("--defaults " + defaults + " must hold an object of input names to values");
                    }
                    inputs.set("defaults", values);
                }
            }
            Api.Answer answer = api().send(JOB, "POST", "/api/v1/jobs", body, Map.of());
            JsonNode job = answer.body();
            out().done((answer.status() == 201 ? "Created " : "Unchanged: ") + job.path("name").asText() + ":"
                    + job.path("version").asText() + (answer.status() == 201 ? "" : " has this spec already"), job);
            return 0;
        }
    }

    /**
     * Sends the directory to the job service ({@code POST /api/v1/uploads}), so it need not see this machine's
     * disk; answers the upload's artifact.
     */
    private static String upload(Base command, Path dir) {
        if (!Files.isDirectory(dir)) {
            throw CliException.usage("--code " + dir + ": no such directory");
        }
        Path root = dir.toAbsolutePath().normalize();
        List<Path> files = CodeUpload.files(root);
        if (files.isEmpty()) {
            throw CliException.usage("--code " + dir + ": no files to send (after .git and " + CodeUpload.IGNORE_FILE + ")");
        }
        Path archive = null;
        try {
            archive = Files.createTempFile("launch-code-", ".tar.gz");
            try (java.io.OutputStream out = new java.io.BufferedOutputStream(Files.newOutputStream(archive))) {
                CodeUpload.write(root, files, out);
            }
            JsonNode uploaded = command.api().sendFile(JOB, "/api/v1/uploads", archive, "application/gzip");
            command.spec.commandLine().getErr().printf("launch: uploaded %d files of %s (%d KiB compressed)%n",
                    files.size(), root, (Files.size(archive) + 1023) / 1024);
            command.spec.commandLine().getErr().flush();
            return uploaded.path("artifact").asText();
        } catch (java.io.IOException e) {
            throw CliException.usage("cannot pack " + dir + ": " + e.getMessage());
        } finally {
            if (archive != null) {
                archive.toFile().delete();
            }
        }
    }

    @Command(name = "list", description = "The latest version of each job.",
            footer = {"", "Example:", "  launch job list --prefix train"})
    static final class ListJobs extends Base {
        @Option(names = "--prefix", paramLabel = "TEXT", description = "Only names starting with it.")
        String prefix;

        @Option(names = "--limit", paramLabel = "N", defaultValue = "100", description = "At most N (default 100).")
        int limit;

        @Override
        int execute() {
            Map<String, Object> query = Api.params();
            query.put("prefix", prefix);
            query.put("limit", limit);
            JsonNode page = api().get(JOB, "/api/v1/jobs" + Api.query(query));
            out().list(page, page.path("items"), LIST);
            return 0;
        }
    }

    @Command(name = "describe", description = "One job version: NAME (latest), NAME:VERSION or NAME:ALIAS.",
            footer = {"", "Examples:", "  launch job describe train", "  launch job describe train:3",
                    "  launch job describe train:prod"})
    static final class Describe extends Base {
        @Parameters(paramLabel = "NAME[:VERSION|:ALIAS]")
        String ref;

        @Override
        int execute() {
            int colon = ref.indexOf(':');
            String path = colon < 0 ? "/api/v1/jobs/" + segment(ref)
                    : "/api/v1/jobs/" + segment(ref.substring(0, colon)) + "/versions/" + segment(ref.substring(colon + 1));
            out().item(api().get(JOB, path), ITEM);
            return 0;
        }
    }

    @Command(name = "alias", description = "A job's aliases: list them, point one at a version, or delete one.",
            footer = {"", "Examples:", "  launch job alias train                 # list", "  launch job alias train prod --version 3",
                    "  launch job alias train prod --delete"})
    static final class Alias extends Base {
        @Parameters(index = "0", paramLabel = "NAME")
        String name;

        @Parameters(index = "1", arity = "0..1", paramLabel = "ALIAS")
        String alias;

        @Option(names = "--version", paramLabel = "N", description = "The version the alias points to.")
        Integer version;

        @Option(names = "--delete", description = "Remove the alias.")
        boolean delete;

        @Override
        int execute() {
            String base = "/api/v1/jobs/" + segment(name) + "/aliases";
            if (alias == null) {
                if (version != null || delete) {
                    throw CliException.usage("name the alias: launch job alias " + name + " ALIAS --version N");
                }
                JsonNode page = api().get(JOB, base);
                out().list(page, page.path("items"), List.of(Column.of("ALIAS", "alias"), Column.of("VERSION", "version")));
                return 0;
            }
            if (delete == (version != null)) {
                throw CliException.usage("give either --version N (point " + alias + " at version N) or --delete");
            }
            if (delete) {
                api().send(JOB, "DELETE", base + "/" + segment(alias), null, Map.of());
                out().say("Deleted alias " + name + ":" + alias);
                return 0;
            }
            JsonNode set = api().send(JOB, "PUT", base + "/" + segment(alias),
                    Json.object().put("version", version), Map.of()).body();
            out().done(name + ":" + alias + " -> version " + version, set);
            return 0;
        }
    }

    static String source(JsonNode source) {
        return switch (source.path("type").asText()) {
            case "code" -> "code " + source.path("artifact").asText();
            case "git" -> "git " + source.path("remote").asText() + "@" + source.path("ref").asText();
            case "image" -> "image " + source.path("image").asText();
            default -> Output.text(source);
        };
    }

    static String argv(JsonNode argv) {
        StringBuilder line = new StringBuilder();
        for (JsonNode arg : argv) {
            String a = arg.asText();
            line.append(line.length() == 0 ? "" : " ")
                    .append(a.isEmpty() || a.matches(".*[\\s'\"$`\\\\].*") ? "'" + a.replace("'", "'\\''") + "'" : a);
        }
        return line.toString();
    }

    static String compact(JsonNode value) {
        return value.isMissingNode() || value.isNull() ? "" : value.toString();
    }
}
