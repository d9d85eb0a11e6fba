package dev.panamadiffusion.server;

import dev.panamadiffusion.server.Http1Wire.Conn;
import java.io.IOException;
import java.net.BindException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link Http1Server} at its edges: the request target's rules (RFC 9112 3.2), stopping with an idle keep-alive
 * connection open, and a bind that fails.
 */
class Http1EdgesTest {
    private static final String HOST = "Host: x\r\n";

    /**
     * A target is printable ASCII (a DEL is refused like a control character); {@code *} is OPTIONS' alone (asterisk
     * form), which no context serves here: a 404, not a malformed request.
     */
    @Test
    void theRequestTargetsForms() throws Exception {
        Http1Server server = Http1Wire.server(Duration.ofSeconds(5), Duration.ofSeconds(5));
        server.createContext("/", ex -> Http1Wire.text(ex, 200, "ok"));
        server.start();
        try (Conn c = new Conn(server.getAddress().getPort())) {
            assertEquals("HTTP/1.1 200 OK", c.send("GET /a~b HTTP/1.1\r\n" + HOST + "\r\n").read().statusLine(), "~ (0x7e) is printable");
            assertEquals("HTTP/1.1 404 Not Found", c.send("OPTIONS * HTTP/1.1\r\n" + HOST + "\r\n").read().statusLine());
        }
        try (Conn c = new Conn(server.getAddress().getPort())) {
            assertEquals("HTTP/1.1 400 Bad Request", c.send("GET * HTTP/1.1\r\n" + HOST + "\r\n").read().statusLine(),
                    "* is OPTIONS' alone");
        }
        try (Conn c = new Conn(server.getAddress().getPort())) { // origin-form: an authority ("//host") is no path
            Http1Wire.Reply r = c.send("GET //a/b HTTP/1.1\r\n" + HOST + "\r\n").read();
            assertEquals("HTTP/1.1 400 Bad Request", r.statusLine());
            assertTrue(r.text().contains("not starting with //"), r.text());
        }
        try (Conn c = new Conn(server.getAddress().getPort())) {
            Http1Wire.Reply r = c.send("GET /a\u007fb HTTP/1.1\r\n" + HOST + "\r\n").read();
            assertEquals("HTTP/1.1 400 Bad Request", r.statusLine());
            assertTrue(new String(r.body(), java.nio.charset.StandardCharsets.UTF_8).contains("printable ASCII"), new String(r.body()));
        } finally {
            server.stop(0);
        }
    }

    /** stop(delay) closes an idle keep-alive connection at once and returns: it waits the delay only for busy ones. */
    @Test
    void stopClosesAnIdleConnectionWithoutWaitingTheDelay() throws Exception {
        Http1Server server = Http1Wire.server(Duration.ofSeconds(5), Duration.ofSeconds(30));
        server.createContext("/", ex -> Http1Wire.text(ex, 200, "ok"));
        server.start();
        try (Conn c = new Conn(server.getAddress().getPort())) {
            assertEquals("HTTP/1.1 200 OK", c.send("GET / HTTP/1.1\r\n" + HOST + "\r\n").read().statusLine());
            long t0 = System.nanoTime();
            server.stop(20);
            double seconds = (System.nanoTime() - t0) / 1e9;
            assertTrue(seconds < 5, "stop took " + seconds + " s with only an idle connection open");
        }
    }

    /**
     * After an answer that ends the connection (a malformed request here), the layer drops what the client still
     * sends for up to a second so that its answer is read before the close; the client's own end of stream ends that
     * wait at once.
     */
    @Test
    void theClientsEndOfStreamEndsTheLingeringCloseAtOnce() throws Exception {
        Http1Server server = Http1Wire.server(Duration.ofSeconds(5), Duration.ofSeconds(5));
        server.createContext("/", ex -> Http1Wire.text(ex, 200, "ok"));
        server.start();
        try (Conn c = new Conn(server.getAddress().getPort())) {
            Http1Wire.Reply r = c.send("GET * HTTP/1.1\r\n" + HOST + "\r\n").read();
            assertEquals("HTTP/1.1 400 Bad Request", r.statusLine());
            assertEquals(1, server.connectionCount(), "still lingering");
            long t0 = System.nanoTime();
            c.socket.shutdownOutput();
            while (server.connectionCount() > 0 && System.nanoTime() - t0 < 5_000_000_000L) Thread.sleep(2);
            double ms = (System.nanoTime() - t0) / 1e6;
            assertEquals(0, server.connectionCount());
            assertTrue(ms < 500, "closed " + ms + " ms after the client's end of stream (the linger is 1 s)");
        } finally {
            server.stop(0);
        }
    }

    /**
     * stop() returns once the accepting thread has ended (none is left behind, whoever checks right after), unless the
     * caller was interrupted (then it keeps its interrupt), and may be called on a server that was never started.
     */
    @Test
    void stopEndsTheAcceptorAndKeepsTheCallersInterrupt() throws Exception {
        for (int i = 0; i < 20; i++) {
            Http1Server server = Http1Wire.server(Duration.ofSeconds(5), Duration.ofSeconds(5));
            server.start();
            String name = "pd-http-accept-" + server.getAddress().getPort();
            Thread acceptor = Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().equals(name)).findFirst()
                    .orElseThrow();
            boolean interrupt = i % 2 == 1; // an interrupted caller does not wait for the acceptor, but keeps its interrupt
            if (interrupt) Thread.currentThread().interrupt();
            boolean alive;
            try {
                server.stop(0);
            } finally {
                alive = acceptor.isAlive();
                assertEquals(interrupt, Thread.interrupted(), "the interrupt is kept");
            }
            if (!interrupt) assertFalse(alive, "the acceptor still runs after stop()");
        }
        Http1Wire.server(Duration.ofSeconds(5), Duration.ofSeconds(5)).stop(0); // bound, never started
    }

    /**
     * An interrupt is never swallowed: a handler that leaves its thread interrupted (here while the hang-up watcher
     * reads ahead) ends its connection at the next read, and the connection's task returns with the interrupt still
     * set, for the executor that ran it to see.
     */
    @Test
    void anInterruptLeftByAHandlerEndsTheConnectionAndStaysSet() throws Exception {
        java.util.concurrent.CompletableFuture<Boolean> interrupted = new java.util.concurrent.CompletableFuture<>();
        Http1Server server = Http1Wire.server(Duration.ofSeconds(5), Duration.ofSeconds(5));
        server.setExecutor(task -> Thread.ofPlatform().start(() -> {
            task.run();
            interrupted.complete(Thread.currentThread().isInterrupted());
        }));
        server.createContext("/", ex -> {
            ((Http1Exchange) ex).onClientGone(() -> { });
            Http1Wire.text(ex, 200, "ok");
            Thread.currentThread().interrupt();
        });
        server.start();
        try (Conn c = new Conn(server.getAddress().getPort())) {
            assertEquals("HTTP/1.1 200 OK", c.send("GET / HTTP/1.1\r\n" + HOST + "\r\n").read().statusLine());
            c.assertClosed(Duration.ofSeconds(5));
            assertTrue(interrupted.get(5, java.util.concurrent.TimeUnit.SECONDS), "the interrupt was cleared");
        } finally {
            server.stop(0);
        }
    }

    /** A bind that fails (the port is taken) closes the socket it opened: no descriptor is left behind. */
    @Test
    void aFailedBindLeavesNoSocketOpen() throws Exception {
        Path fds = Path.of("/proc/self/fd");
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isDirectory(fds), "no /proc/self/fd here");
        Http1Server taken = Http1Wire.server(Duration.ofSeconds(5), Duration.ofSeconds(5));
        try {
            InetSocketAddress address = new InetSocketAddress("127.0.0.1", taken.getAddress().getPort());
            long before = count(fds);
            for (int i = 0; i < 20; i++) {
                Http1Server other = new Http1Server(Duration.ofSeconds(5), Duration.ofSeconds(5));
                assertThrows(BindException.class, () -> other.bind(address, 16));
            }
            long after = count(fds);
            assertTrue(after - before < 10, "descriptors before " + before + ", after 20 failed binds " + after);
        } finally {
            taken.stop(0);
        }
    }

    private static long count(Path dir) throws IOException {
        try (var s = Files.list(dir)) {
            return s.count();
        }
    }
}
