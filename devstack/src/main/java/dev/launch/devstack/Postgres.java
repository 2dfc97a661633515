package dev.launch.devstack;

import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;

/** A real PostgreSQL server from Maven artifacts (zonky), bound to 127.0.0.1, with one database per service. */
public final class Postgres implements AutoCloseable {
    private final EmbeddedPostgres server;

    private Postgres(EmbeddedPostgres server) {
        this.server = server;
    }

    /**
     * Starts PostgreSQL on {@code port} with its data in {@code directory/data}; {@code keepData} reuses an
     * existing data directory (the local stack) instead of starting empty (tests).
     */
    public static Postgres start(Path directory, int port, boolean keepData) {
        try {
            Files.createDirectories(directory);
            Path work = directory.resolve("binaries");
            Files.createDirectories(work);
            System.setProperty("ot.epg.working-dir", work.toString());
            EmbeddedPostgres server = EmbeddedPostgres.builder()
                    .setPort(port)
                    .setDataDirectory(directory.resolve("data"))
                    .setCleanDataDirectory(!keepData)
                    .setOverrideWorkingDirectory(work.toFile())
                    .setServerConfig("listen_addresses", "127.0.0.1")
                    .setServerConfig("max_connections", "200")
                    .setServerConfig("fsync", keepData ? "on" : "off")
                    .setPGStartupWait(Duration.ofSeconds(60))
                    .start();
            return new Postgres(server);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start embedded PostgreSQL", e);
        }
    }

    public int port() {
        return server.getPort();
    }

    /** Creates {@code name} unless it exists. */
    public void ensureDatabase(String name) {
        ensureDatabase(port(), name);
    }

    /** Creates {@code name} on the server at 127.0.0.1:{@code port} unless it exists. */
    public static void ensureDatabase(int port, String name) {
        try (Connection c = java.sql.DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + port + "/postgres",
                "postgres", "postgres"); Statement s = c.createStatement()) {
            try (ResultSet rs = s.executeQuery("SELECT 1 FROM pg_database WHERE datname = '" + name + "'")) {
                if (rs.next()) {
                    return;
                }
            }
            s.execute("CREATE DATABASE \"" + name + "\"");
        } catch (SQLException e) {
            throw new IllegalStateException("cannot create database " + name, e);
        }
    }

    public String jdbcUrl(String database) {
        return "jdbc:postgresql://127.0.0.1:" + port() + "/" + database;
    }

    public String reactiveUrl(String database) {
        return "postgresql://127.0.0.1:" + port() + "/" + database;
    }

    @Override
    public void close() {
        try {
            server.close();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
