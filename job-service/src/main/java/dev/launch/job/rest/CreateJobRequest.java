package dev.launch.job.rest;

import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.List;

/**
 * Body of {@code POST /api/v1/jobs}.
 *
 * @param name        job name
 * @param description free text (not part of the version's identity)
 * @param source      {@code {type:"image", image}}, {@code {type:"git", remote, ref}} or
 *                    {@code {type:"code", artifact}}
 * @param entrypoint  argv
 * @param inputs      {@code {schema?, defaults?}}
 */
public record CreateJobRequest(String name, String description, Source source, List<String> entrypoint,
                               Inputs inputs) {

    public record Source(String type, String image, String remote, String ref, String artifact) {
    }

    public record Inputs(ObjectNode schema, ObjectNode defaults) {
    }
}
