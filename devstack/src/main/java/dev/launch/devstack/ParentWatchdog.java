package dev.launch.devstack;

import java.lang.reflect.Method;

/**
 * Runs a main class and exits the JVM when its parent goes away (its stdin reaches end of file), so a
 * broker started by a test JVM or by {@code ./launch} never outlives it, even after {@code kill -9}.
 * Uses only the JDK: it runs on the broker's own classpath.
 * Usage: {@code ParentWatchdog <main class> <args...>}.
 */
public final class ParentWatchdog {
    private ParentWatchdog() {
    }

    public static void main(String[] args) throws Exception {
        Thread watchdog = new Thread(() -> {
            try {
                while (System.in.read() >= 0) {
                    // the parent never writes; any byte is ignored
                }
            } catch (Exception ignored) {
                // a broken pipe means the same as end of file
            }
            System.err.println("parent process is gone; shutting down");
            System.exit(0);
        }, "parent-watchdog");
        watchdog.setDaemon(true);
        watchdog.start();
        String[] rest = new String[args.length - 1];
        System.arraycopy(args, 1, rest, 0, rest.length);
        Method main = Class.forName(args[0]).getMethod("main", String[].class);
        main.invoke(null, (Object) rest);
    }
}
