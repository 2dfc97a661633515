package dev.launch.cli;

/**
 * What ends a command with a message for the user and an exit code: {@link #USAGE} for a request the CLI or a
 * server refused (bad flags, a problem+json answer, a server that cannot be reached), {@link #RUN_FAILED} for a
 * followed run that failed or was stopped.
 */
public class CliException extends RuntimeException {
    public static final int RUN_FAILED = 1;
    public static final int USAGE = 2;

    private final int exitCode;

    public CliException(int exitCode, String message) {
        super(message);
        this.exitCode = exitCode;
    }

    public static CliException usage(String message) {
        return new CliException(USAGE, message);
    }

    public int exitCode() {
        return exitCode;
    }
}
