package dev.panamadiffusion.server;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import com.sun.net.httpserver.Authenticator;
import com.sun.net.httpserver.BasicAuthenticator;
import com.sun.net.httpserver.HttpContext;
import dev.panamadiffusion.server.Http1Wire.Conn;
import dev.panamadiffusion.server.HttpLayerTest.Answer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.BindException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import static dev.panamadiffusion.server.HttpLayerTest.assertJsonError;
import static dev.panamadiffusion.server.HttpLayerTest.read;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link Http1Server} on its own, with plain handlers and short timeouts: the JDK's {@code HttpServer}/{@code
 * HttpExchange} semantics (routing by the longest path prefix, response lengths, request bodies), the head and body
 * timeouts, idle connections, and a graceful {@link HttpServer#stop}.
 */
class Http1ServerTest {
    private static final Duration SHORT = Duration.ofMillis(400);
    private Http1Server server;
    private int port;

    @BeforeEach
    void start() throws IOException {
        server = new Http1Server(SHORT, SHORT);
        server.bind(new InetSocketAddress("127.0.0.1", 0), 16);
        server.createContext("/a", ex -> text(ex, 200, "a " + ex.getRequestURI().getPath()));
        server.createContext("/a/b", ex -> text(ex, 200, "b " + ex.getRequestURI().getPath()));
        server.createContext("/echo", ex -> {
            byte[] body = ex.getRequestBody().readAllBytes();
            assertEquals(-1, ex.getRequestBody().read()); // and no further
            text(ex, 200, ex.getRequestMethod() + " " + ex.getProtocol() + " " + ex.getRequestHeaders().getFirst("x-CASE") + " "
                    + new String(body, StandardCharsets.UTF_8));
        });
        server.createContext("/silent", ex -> { });
        server.createContext("/throws", ex -> {
            throw new IllegalStateException("boom");
        });
        server.createContext("/lengths", ex -> {
            String q = ex.getRequestURI().getQuery();
            switch (q) {
                case "chunked" -> {
                    ex.sendResponseHeaders(200, 0);
                    try (OutputStream out = ex.getResponseBody()) {
                        for (int i = 0; i < 3000; i++) out.write(("line " + i + "\n").getBytes(StandardCharsets.UTF_8));
                    }
                }
                case "none" -> ex.sendResponseHeaders(204, -1);
                case "empty" -> ex.sendResponseHeaders(200, -1);
                default -> { // more bytes than announced: refused, the announced ones are sent
                    ex.sendResponseHeaders(200, 3);
                    OutputStream out = ex.getResponseBody();
                    assertThrows(IOException.class, () -> out.write("abcd".getBytes(StandardCharsets.UTF_8)));
                    out.write("abc".getBytes(StandardCharsets.UTF_8));
                    assertThrows(IOException.class, () -> ex.sendResponseHeaders(200, 3));
                    ex.close();
                }
            }
        });
        server.start();
        port = server.getAddress().getPort();
    }

    @AfterEach
    void stop() {
        server.stop(0);
    }

    private static void text(HttpExchange ex, int status, String body) throws IOException {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "text/plain");
        ex.sendResponseHeaders(status, b.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(b);
        }
    }

    private Answer send(String request) throws IOException {
        try (Socket s = HttpLayerTest.connect(port)) {
            s.getOutputStream().write(request.getBytes(StandardCharsets.ISO_8859_1));
            return read(s.getInputStream());
        }
    }

    @Test
    void theLongestMatchingContextAnswers() throws Exception {
        assertEquals("b /a/b/c", send("GET /a/b/c HTTP/1.1\r\nHost: x\r\n\r\n").body());
        assertEquals("a /a/x", send("GET /a/x HTTP/1.1\r\nHost: x\r\n\r\n").body());
        assertEquals("a /ab", send("GET http://x/ab?q=1 HTTP/1.1\r\nHost: x\r\n\r\n").body()); // a plain prefix, as the JDK's
        Answer a = send("GET /z HTTP/1.1\r\nHost: x\r\n\r\n");
        assertEquals(404, a.status());
        assertTrue(a.body().contains("no such endpoint: /z"), a.body());
        server.removeContext("/a/b");
        assertEquals("a /a/b/c", send("GET /a/b/c HTTP/1.1\r\nHost: x\r\n\r\n").body());
    }

    @Test
    void handlersThatFailOrSayNothingGet500Json() throws Exception {
        Answer a = send("GET /silent HTTP/1.1\r\nHost: x\r\n\r\n");
        assertEquals(500, a.status());
        assertTrue(a.body().contains("the server sent no answer"), a.body());
        a = send("GET /throws HTTP/1.1\r\nHost: x\r\n\r\n");
        assertEquals(500, a.status());
        assertEquals("application/json", a.header("Content-Type"));
        assertTrue(a.body().startsWith("{\"error\":{\"message\":\"the server failed"), a.body());
    }

    @Test
    void responseLengthsFollowTheJdksRules() throws Exception {
        HttpClient client = HttpClient.newHttpClient(); // HTTP/2 by default: asks to upgrade (h2c), which is ignored
        HttpResponse<String> r = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/lengths?chunked"))
                .build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode());
        assertEquals(HttpClient.Version.HTTP_1_1, r.version());
        assertEquals("chunked", r.headers().firstValue("Transfer-Encoding").orElse(null));
        assertEquals(3000, r.body().lines().count());
        assertTrue(r.body().endsWith("line 2999\n"));
        try (Socket s = HttpLayerTest.connect(port)) { // all on one connection
            OutputStream out = s.getOutputStream();
            InputStream in = s.getInputStream();
            out.write("GET /lengths?none HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
            Answer a = read(in);
            assertEquals(204, a.status());
            assertNull(a.header("Content-Length"));
            out.write("GET /lengths?empty HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
            a = read(in);
            assertEquals("0", a.header("Content-Length"));
            out.write("GET /lengths?fixed HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
            a = read(in);
            assertEquals(200, a.status());
            assertEquals("abc", a.body());
            out.write("HEAD /a HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
            assertEquals("4", read(in, true).header("Content-Length")); // and no body: the next answer follows at once
            out.write("POST /echo HTTP/1.1\r\nHost: x\r\nX-Case: Yes\r\nContent-Length: 3\r\n\r\nhi!".getBytes(StandardCharsets.ISO_8859_1));
            assertEquals("POST HTTP/1.1 Yes hi!", read(in).body());
        }
    }

    @Test
    void aSlowHeadIs408JsonAndAnIdleConnectionCloses() throws Exception {
        try (Socket s = HttpLayerTest.connect(port)) {
            long t0 = System.nanoTime();
            s.getOutputStream().write("GET /a HTTP/1.1\r\nHost: x\r\n".getBytes(StandardCharsets.ISO_8859_1));
            assertJsonError(read(s.getInputStream()), 408, "the request head did not arrive within 0.4 s");
            assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(3), "answered after " + (System.nanoTime() - t0) / 1e9 + " s");
        }
        try (Socket s = HttpLayerTest.connect(port)) { // nothing sent: closed without an answer
            long t0 = System.nanoTime();
            assertEquals(-1, s.getInputStream().read());
            assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(3));
        }
        try (Socket s = HttpLayerTest.connect(port)) { // idle after an answer: closed
            s.getOutputStream().write("GET /a HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
            assertEquals(200, read(s.getInputStream()).status());
            long t0 = System.nanoTime();
            assertEquals(-1, s.getInputStream().read());
            double seconds = (System.nanoTime() - t0) / 1e9;
            assertTrue(seconds > 0.2 && seconds < 3, seconds + " s");
        }
    }

    @Test
    void aBodyThatStopsArrivingIs408Json() throws Exception {
        try (Socket s = HttpLayerTest.connect(port)) {
            s.getOutputStream().write("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc".getBytes(StandardCharsets.ISO_8859_1));
            assertJsonError(read(s.getInputStream()), 408, "the request body stopped arriving (nothing for 0.4 s)");
        }
        try (Socket s = HttpLayerTest.connect(port)) { // cut short: the connection ends inside the body
            s.getOutputStream().write("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc".getBytes(StandardCharsets.ISO_8859_1));
            s.shutdownOutput();
            assertJsonError(read(s.getInputStream()), 400, "the request body ended after 3 of its 10 bytes");
        }
    }

    @Test
    void stopWaitsForExchangesInProgressAndRefusesNewConnections() throws Exception {
        server.stop(0); // one whose idle connections stay open for long
        server = new Http1Server(Duration.ofSeconds(30), Duration.ofSeconds(30));
        server.bind(new InetSocketAddress("127.0.0.1", 0), 16);
        server.createContext("/a", ex -> text(ex, 200, "a"));
        server.start();
        port = server.getAddress().getPort();
        CountDownLatch entered = new CountDownLatch(1);
        server.createContext("/slow", ex -> {
            entered.countDown();
            try {
                Thread.sleep(800);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            text(ex, 200, "done");
        });
        Socket idle = HttpLayerTest.connect(port);
        idle.getOutputStream().write("GET /a HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
        assertEquals(200, read(idle.getInputStream()).status());
        CompletableFuture<Answer> slow = CompletableFuture.supplyAsync(() -> {
            try {
                return send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        });
        assertTrue(entered.await(10, TimeUnit.SECONDS));
        long t0 = System.nanoTime();
        server.stop(10);
        double seconds = (System.nanoTime() - t0) / 1e9;
        Answer a = slow.get(5, TimeUnit.SECONDS);
        assertEquals(200, a.status());
        assertEquals("done", a.body());
        assertEquals("close", a.header("Connection"));
        assertTrue(seconds > 0.4 && seconds < 5, "stop returned after " + seconds + " s");
        long t1 = System.nanoTime();
        assertEquals(-1, idle.getInputStream().read()); // the idle connection was closed
        assertTrue(System.nanoTime() - t1 < TimeUnit.SECONDS.toNanos(2), "the idle connection stayed open");
        idle.close();
        assertThrows(ConnectException.class, () -> new Socket("127.0.0.1", port).close());
    }

    @Test
    void theServerAndContextApisCheckTheirArgumentsAsTheJdksDo() throws Exception {
        Duration[][] bad = {{Duration.ZERO, SHORT}, {SHORT, Duration.ZERO}, {SHORT.negated(), SHORT}, {SHORT, SHORT.negated()}};
        for (Duration[] d : bad) assertThrows(IllegalArgumentException.class, () -> new Http1Server(d[0], d[1]));
        Http1Server s = new Http1Server(SHORT, SHORT);
        assertNull(s.getAddress());
        assertThrows(IllegalStateException.class, s::start); // not bound
        assertThrows(NullPointerException.class, () -> s.bind(null, 0));
        s.bind(new InetSocketAddress("127.0.0.1", 0), 0);
        assertThrows(BindException.class, () -> s.bind(new InetSocketAddress("127.0.0.1", 0), 0));
        assertThrows(IllegalArgumentException.class, () -> s.stop(-1));
        s.stop(0); // bound, never started

        assertThrows(NullPointerException.class, () -> server.createContext("/n", null));
        assertThrows(NullPointerException.class, () -> server.createContext(null, ex -> { }));
        assertThrows(IllegalArgumentException.class, () -> server.createContext("a", ex -> { }));
        assertThrows(IllegalArgumentException.class, () -> server.createContext("/a", ex -> { }));
        HttpContext late = server.createContext("/late");
        assertEquals("/late", late.getPath());
        assertSame(server, late.getServer());
        assertEquals(404, send("GET /late HTTP/1.1\r\nHost: x\r\n\r\n").status()); // no handler yet
        assertThrows(NullPointerException.class, () -> late.setHandler(null));
        late.setHandler(ex -> text(ex, 200, "late"));
        assertThrows(IllegalArgumentException.class, () -> late.setHandler(ex -> { }));
        assertEquals("late", send("GET /late HTTP/1.1\r\nHost: x\r\n\r\n").body());
        late.getAttributes().put("k", "v");
        assertEquals("v", late.getAttributes().get("k"));
        Authenticator auth = new BasicAuthenticator("r") {
            @Override
            public boolean checkCredentials(String user, String password) { return true; }
        };
        assertNull(late.setAuthenticator(auth));
        assertSame(auth, late.getAuthenticator());
        assertSame(auth, late.setAuthenticator(null));
        assertThrows(NullPointerException.class, () -> server.removeContext((String) null));
        assertThrows(NullPointerException.class, () -> server.removeContext((HttpContext) null));
        assertThrows(IllegalArgumentException.class, () -> server.removeContext("/nope"));
        server.removeContext(late);
        assertThrows(IllegalArgumentException.class, () -> server.removeContext(late));
        assertEquals(404, send("GET /late HTTP/1.1\r\nHost: x\r\n\r\n").status());
        assertThrows(IllegalStateException.class, server::start);
        assertThrows(IllegalStateException.class, () -> server.setExecutor(null));
        Http1Server stopped = Http1Wire.server(SHORT, SHORT);
        stopped.stop(0);
        assertThrows(IllegalStateException.class, stopped::start);
    }

    @Test
    void connectionsRunOnTheExecutorAndOneItRefusesIsClosed() throws Exception {
        server.stop(0);
        AtomicInteger runs = new AtomicInteger();
        Executor counting = r -> {
            runs.incrementAndGet();
            Thread.ofVirtual().start(r);
        };
        server = Http1Wire.server(SHORT, SHORT);
        server.createContext("/a", ex -> text(ex, 200, "a"));
        server.setExecutor(counting);
        assertSame(counting, server.getExecutor());
        server.start();
        port = server.getAddress().getPort();
        assertEquals("a", send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n").body());
        assertEquals(1, runs.get());
        server.stop(0);
        server = Http1Wire.server(SHORT, SHORT);
        server.setExecutor(r -> {
            throw new RejectedExecutionException("full");
        });
        server.start();
        try (Conn c = new Conn(server.getAddress().getPort())) {
            c.assertClosed(Duration.ofSeconds(5));
        }
    }

    @Test
    void layerAnswersAreToldToTheListener() throws Exception {
        List<Integer> told = new CopyOnWriteArrayList<>();
        server.onLayerAnswer(status -> {
            told.add(status);
            throw new IllegalStateException("a listener's failure is not the client's");
        });
        assertEquals(404, send("GET /z HTTP/1.1\r\nHost: x\r\n\r\n").status());
        assertEquals(500, send("GET /silent HTTP/1.1\r\nHost: x\r\n\r\n").status());
        assertEquals(500, send("GET /throws HTTP/1.1\r\nHost: x\r\n\r\n").status());
        assertEquals(400, send("GET /a HTTP/1.1\r\n\r\n").status());
        assertEquals(List.of(404, 500, 500, 400), told);
    }

    @Test
    void connectionsAreCountedUntilTheyClose() throws Exception {
        try (Conn c = new Conn(port)) {
            assertEquals("a /a", c.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n").read().text());
            assertEquals(1, server.connectionCount());
        }
        awaitNoConnections();
        Conn idle = new Conn(port);
        assertEquals("a /a", idle.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n").read().text());
        server.stop(0);
        idle.assertClosed(Duration.ofSeconds(5));
        idle.close();
        awaitNoConnections();
    }

    private void awaitNoConnections() throws InterruptedException {
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (server.connectionCount() > 0 && System.nanoTime() < until) Thread.sleep(10);
        assertEquals(0, server.connectionCount());
    }

    @Test
    void stopWithoutDelayClosesBusyConnectionsAndKeepsTheInterrupt() throws Exception {
        CountDownLatch entered = new CountDownLatch(1), release = new CountDownLatch(1);
        server.createContext("/busy", ex -> {
            entered.countDown();
            try {
                release.await(20, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            text(ex, 200, "late");
        });
        try (Conn c = new Conn(port)) {
            c.send("GET /busy HTTP/1.1\r\nHost: x\r\n\r\n");
            assertTrue(entered.await(10, TimeUnit.SECONDS));
            long t0 = System.nanoTime();
            Thread.currentThread().interrupt(); // stop(10), interrupted, gives up waiting
            server.stop(10);
            assertTrue(Thread.interrupted(), "the interrupt was lost");
            server.stop(0);
            assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(5), "stop waited for the busy exchange");
            c.assertClosed(Duration.ofSeconds(3));
        } finally {
            release.countDown();
        }
        Thread.currentThread().interrupt(); // nothing busy: the interrupt survives as well
        server.stop(0);
        assertTrue(Thread.interrupted(), "the interrupt was lost");
    }

    @Test
    void aClosingConnectionLingersSoThatItsClientCanFinishSendingButNotForLong() throws Exception {
        // refused, or answered with Connection: close, while the client still sends: it finishes without a reset
        for (String request : new String[] {"GET /a HTTP/1.1\r\n\r\n", "GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"}) {
            try (Conn c = new Conn(port)) {
                assertEquals("close", c.send(request).read().header("Connection"));
                long t0 = System.nanoTime();
                c.assertClosed(Duration.ofSeconds(5)); // the answer's end is said at once, while the client keeps its side open
                assertTrue(System.nanoTime() - t0 < TimeUnit.MILLISECONDS.toNanos(900), "the end came only when the server closed");
                for (int i = 0; i < 10; i++) {
                    c.out.write(new byte[10_000]);
                    Thread.sleep(20);
                }
                c.socket.shutdownOutput();
            }
        }
        try (Conn c = new Conn(port)) { // but reads no more than 256 KiB
            assertEquals(400, c.send("GET /a HTTP/1.1\r\n\r\n").read().status());
            long t0 = System.nanoTime(), failed = -1;
            try {
                for (int i = 0; i < 2000 && System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(3); i++) {
                    c.out.write(new byte[10_000]);
                    Thread.sleep(2);
                }
            } catch (IOException e) {
                failed = System.nanoTime() - t0;
            }
            assertTrue(failed >= 0 && failed < TimeUnit.MILLISECONDS.toNanos(700), "writes went on for " + failed / 1e6 + " ms");
        }
    }

    @Test
    void theLongestOfManyNestedContextsAnswers() throws Exception {
        for (String p : new String[] {"/", "/n", "/n/o", "/n/o/p", "/n/o/p/q"}) server.createContext(p, ex -> text(ex, 200, p));
        for (String[] t : new String[][] {{"/x", "/"}, {"/n/x", "/n"}, {"/n/o/x", "/n/o"}, {"/n/o/p/x", "/n/o/p"}, {"/n/o/p/q/x", "/n/o/p/q"}}) {
            assertEquals(t[1], send("GET " + t[0] + " HTTP/1.1\r\nHost: x\r\n\r\n").body(), t[0]);
        }
    }
}
