package dev.panamadiffusion.server;

import dev.panamadiffusion.server.Http1Wire.Conn;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link Http1Server}'s races, each put in one order on purpose: {@link Http1Server#stop} landing at a given step of a
 * connection (just accepted, its head read but its exchange not begun, its answer sent but its handler not returned),
 * and a read that returns just as the head's deadline passes. A {@link WatchedSocket} runs the test's code at the
 * step (after an accept, after a read), and a frozen clock ({@link Http1Server#ticker}) puts the deadline where the
 * test says.
 */
class Http1RacesTest {
    private static final Duration FIVE = Duration.ofSeconds(5);

    /** Runs after the {@code k}-th read of a connection that returned bytes ({@code k} from 1), with those bytes. */
    interface ReadHook {
        void read(int k, String bytes);
    }

    /**
     * A listening socket on the loopback address whose accepted connections run {@link #onAccept} before the server
     * gets them, and {@link #onRead} after each of their reads that returns bytes, before the server sees them.
     */
    static final class WatchedSocket extends ServerSocket {
        volatile Runnable onAccept = () -> { };
        volatile ReadHook onRead = (k, bytes) -> { };

        WatchedSocket() throws IOException {
            super(0, 16, InetAddress.getLoopbackAddress());
        }

        @Override
        public Socket accept() throws IOException {
            Socket s = new Socket() {
                private InputStream in;

                @Override
                public synchronized InputStream getInputStream() throws IOException {
                    if (in == null) in = new FilterInputStream(super.getInputStream()) {
                        private int reads;

                        @Override
                        public int read(byte[] b, int off, int len) throws IOException {
                            int n = super.read(b, off, len);
                            if (n > 0) onRead.read(++reads, new String(b, off, n, StandardCharsets.ISO_8859_1));
                            return n;
                        }
                    };
                    return in;
                }
            };
            implAccept(s);
            onAccept.run();
            return s;
        }
    }

    /** A server on a {@link WatchedSocket}, its connections run on platform threads kept in {@code tasks}. */
    private static Http1Server server(WatchedSocket socket, Duration head, List<Thread> tasks) throws IOException {
        Http1Server server = new Http1Server(head, FIVE);
        server.bind(socket);
        server.setExecutor(task -> tasks.add(Thread.ofPlatform().name("race-connection").start(task)));
        return server;
    }

    /** Starts {@code stop(delay)} on a thread of its own; the thread. */
    private static Thread stopping(Http1Server server, int delay) {
        return Thread.ofPlatform().name("race-stop").start(() -> server.stop(delay));
    }

    /**
     * A stop that closes a connection after its request head was read but before its exchange began: the handler never
     * runs (its answer could not be written), and the client sees the connection closed.
     */
    @Test
    void aStopBetweenTheHeadAndItsExchangeRunsNoHandler() throws Exception {
        WatchedSocket socket = new WatchedSocket();
        List<Thread> tasks = new CopyOnWriteArrayList<>();
        Http1Server server = server(socket, FIVE, tasks);
        AtomicInteger handled = new AtomicInteger();
        server.createContext("/", ex -> {
            handled.incrementAndGet();
            Http1Wire.text(ex, 200, "ok");
        });
        socket.onRead = (k, bytes) -> {
            if (!bytes.endsWith("\r\n\r\n")) return;
            try {
                stopping(server, 0).join(); // the connection is idle (its head not yet parsed): stop closes it
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        };
        server.start();
        try (Conn c = new Conn(server.getAddress().getPort())) {
            c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
            c.assertClosed(FIVE);
        }
        for (Thread t : tasks) t.join(FIVE.toMillis());
        assertEquals(1, tasks.size());
        assertFalse(tasks.get(0).isAlive());
        assertEquals(0, handled.get(), "a handler ran on a connection stop() had closed");
    }

    /**
     * A stop that begins while a connection is being accepted (after the accept, before the server has counted it, so
     * that stop() cannot see it): the server closes that connection itself and hands it to no executor.
     */
    @Test
    void aConnectionAcceptedWhileStoppingIsClosedAndNeverRun() throws Exception {
        WatchedSocket socket = new WatchedSocket();
        List<Thread> tasks = new CopyOnWriteArrayList<>();
        Http1Server server = server(socket, FIVE, tasks);
        server.createContext("/", ex -> Http1Wire.text(ex, 200, "ok"));
        Thread[] stop = new Thread[1];
        socket.onAccept = () -> {
            stop[0] = stopping(server, 0);
            // stop() has closed every connection it knows (none) and waits for this thread: it will not see this one
            while (stop[0].getState() != Thread.State.TIMED_WAITING && stop[0].isAlive()) Thread.onSpinWait();
        };
        server.start();
        try (Conn c = new Conn(server.getAddress().getPort())) {
            assertTrue(c.closedWithin(Duration.ofSeconds(3)), "a connection accepted during stop() was left open");
        }
        stop[0].join(FIVE.toMillis());
        assertFalse(stop[0].isAlive());
        assertEquals(0, tasks.size(), "a connection accepted during stop() was handed to the executor");
        assertEquals(0, server.connectionCount());
    }

    /**
     * A stop that begins after a handler has answered but before it returns ends that connection once the handler
     * returns (a lingering close: the client sees the end of the stream at once), rather than reading the rest of the
     * request's body first, which the client may never send.
     */
    @Test
    void aStopDuringAHandlerClosesAfterItRatherThanDrainingTheBody() throws Exception {
        Http1Server server = Http1Wire.server(Duration.ofSeconds(20), FIVE);
        Thread[] stop = new Thread[1];
        server.createContext("/", ex -> {
            Http1Wire.text(ex, 200, "ok"); // the body (100 bytes, 50 sent) left unread
            stop[0] = stopping(server, 10);
            while (!server.stopping()) Thread.onSpinWait();
        });
        server.start();
        try (Conn c = new Conn(server.getAddress().getPort())) {
            c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + "x".repeat(50));
            Http1Wire.Reply r = c.read();
            assertEquals("HTTP/1.1 200 OK", r.statusLine());
            assertEquals("ok", r.text());
            long t0 = System.nanoTime();
            assertTrue(c.closedWithin(Duration.ofSeconds(3)), "the connection waited for a body during stop()");
            double seconds = (System.nanoTime() - t0) / 1e9;
            assertTrue(seconds < 1.5, "closed after " + seconds + " s");
        } finally {
            if (stop[0] != null) stop[0].join(15_000);
        }
        assertFalse(stop[0].isAlive(), "stop() still waits");
    }

    /** The seams refuse what would break a server: a second socket, one not bound, a clock changed once it runs. */
    @Test
    void theSeamsRefuseASecondSocketAnUnboundOneAndALateClock() throws Exception {
        Http1Server server = Http1Wire.server(FIVE, FIVE);
        try (WatchedSocket other = new WatchedSocket(); ServerSocket unbound = new ServerSocket()) {
            assertEquals("HTTP server already bound",
                    org.junit.jupiter.api.Assertions.assertThrows(java.net.BindException.class, () -> server.bind(other)).getMessage());
            Http1Server fresh = new Http1Server(FIVE, FIVE);
            assertEquals("the socket is not bound",
                    org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> fresh.bind(unbound)).getMessage());
            fresh.bind(other);
            fresh.ticker(() -> 7);
            assertEquals(7, fresh.nanoTime());
            server.start();
            assertEquals("server already started",
                    org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class, () -> server.ticker(System::nanoTime))
                            .getMessage());
        } finally {
            server.stop(0);
        }
    }

    /**
     * The whole head must arrive within the head timeout of its first byte: a read that returns just as the deadline
     * is reached (the clock then reads exactly the deadline) is the last; the next one is not tried, even though the
     * rest of the head is already there, and the answer is a 408.
     */
    @Test
    void aHeadStillComingAtItsDeadlineIsA408EvenWithTheRestAlreadyThere() throws Exception {
        Duration head = Duration.ofSeconds(10);
        WatchedSocket socket = new WatchedSocket();
        List<Thread> tasks = new CopyOnWriteArrayList<>();
        Http1Server server = server(socket, head, tasks);
        AtomicLong now = new AtomicLong(); // frozen until the second read
        server.ticker(now::get);
        AtomicInteger handled = new AtomicInteger();
        server.createContext("/", ex -> {
            handled.incrementAndGet();
            Http1Wire.text(ex, 200, "ok");
        });
        socket.onRead = (k, bytes) -> {
            if (k == 2) now.set(head.toNanos()); // the deadline: the first byte came at 0
        };
        server.start();
        StringBuilder request = new StringBuilder("GET / HTTP/1.1\r\nHost: x\r\n");
        for (int i = 0; i < 80; i++) request.append("X-Pad-").append(i).append(": ").append("p".repeat(480)).append("\r\n");
        request.append("\r\n");
        assertTrue(request.length() > 2 * 16 * 1024, "the head must need three reads: " + request.length());
        try (Conn c = new Conn(server.getAddress().getPort())) {
            Http1Wire.Reply r = c.send(request.toString()).read();
            assertEquals("HTTP/1.1 408 Request Timeout", r.statusLine(), r.text());
        } finally {
            server.stop(0);
        }
        assertEquals(0, handled.get());
    }
}
