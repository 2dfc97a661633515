package dev.launch.common.job;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * A job's typed inputs.
 *
 * @param schema   a JSON Schema the run's resolved inputs must satisfy (optional)
 * @param defaults default values, overlaid by each run's own inputs (optional)
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record JobInputs(ObjectNode schema, ObjectNode defaults) {
}
