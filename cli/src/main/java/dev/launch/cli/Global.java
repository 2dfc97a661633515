package dev.launch.cli;

import picocli.CommandLine.Option;

/** The options every command takes: where the services are, the token, the output format. */
public class Global {
    @Option(names = "--job-url", paramLabel = "URL", description = "The job service (env LAUNCH_JOB_URL; default "
            + "http://127.0.0.1:8081).")
    String jobUrl;

    @Option(names = "--queue-url", paramLabel = "URL", description = "The queue service (env LAUNCH_QUEUE_URL; "
            + "default http://127.0.0.1:8082).")
    String queueUrl;

    @Option(names = "--status-url", paramLabel = "URL", description = "The status service (env LAUNCH_STATUS_URL; "
            + "default http://127.0.0.1:8084).")
    String statusUrl;

    @Option(names = "--token", paramLabel = "TOKEN", description = "Sent as 'Authorization: Bearer' (env LAUNCH_TOKEN).")
    String token;

    @Option(names = {"-o", "--output"}, paramLabel = "FORMAT", converter = FormatConverter.class,
            description = "table (default), json or yaml: json and yaml print the API's own answer, for scripts "
                    + "(env LAUNCH_OUTPUT).")
    Output.Format output;

    Settings.Flags flags() {
        return new Settings.Flags(jobUrl, queueUrl, statusUrl, token, output);
    }

    static class FormatConverter implements picocli.CommandLine.ITypeConverter<Output.Format> {
        @Override
        public Output.Format convert(String value) {
            try {
                return Output.Format.parse(value);
            } catch (CliException e) {
                throw new picocli.CommandLine.TypeConversionException(e.getMessage());
            }
        }
    }
}
