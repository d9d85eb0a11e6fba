package dev.panamadiffusion.server;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.panamadiffusion.server.HttpLayerTest.Answer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
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
}
