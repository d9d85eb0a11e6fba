package dev.panamadiffusion.server;

import com.sun.net.httpserver.Filter;
import com.sun.net.httpserver.Headers;
import com.sun.net.httpserver.HttpContext;
import com.sun.net.httpserver.HttpExchange;
import dev.panamadiffusion.server.Http1Wire.Conn;
import dev.panamadiffusion.server.Http1Wire.Reply;
import java.io.ByteArrayInputStream;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * How {@link Http1Exchange} answers, byte by byte: the framing each status, method and length gets (RFC 9112 6.3, as
 * the JDK's {@code HttpExchange.sendResponseHeaders} defines the length), the reason phrases, the response streams
 * (single bytes, flush, close, writes out of turn), what closes the connection, a handler that fails mid-answer, and
 * {@link Http1Exchange#onClientGone}.
 */
class Http1AnswerTest {
    private static final Duration HEAD = Duration.ofMillis(500);
    private static final String HOST = "Host: x\r\n";
    private Http1Server server;
    private int port;
    /** What handlers saw, in order. */
    private final BlockingQueue<String> notes = new LinkedBlockingQueue<>();
    private final CountDownLatch release = new CountDownLatch(1);

    @BeforeEach
    void start() throws IOException {
        server = Http1Wire.server(HEAD, Duration.ofSeconds(5));
        server.createContext("/ok", ex -> Http1Wire.text(ex, 200, "ok"));
        server.createContext("/answer", ex -> { // ?code,len[,what to write]
            String[] q = ex.getRequestURI().getQuery().split(",");
            ex.sendResponseHeaders(Integer.parseInt(q[0]), Long.parseLong(q[1]));
            if (q.length > 2) {
                try {
                    ex.getResponseBody().write(Http1Wire.bytes(q[2]));
                } catch (IOException e) {
                    notes.add("refused");
                }
            }
            ex.close();
        });
        server.createContext("/code", ex -> {
            int code = Integer.parseInt(ex.getRequestURI().getQuery());
            try {
                ex.sendResponseHeaders(code, -1);
                ex.close();
            } catch (IllegalArgumentException e) {
                Http1Wire.text(ex, 200, "refused " + code);
            }
        });
        server.createContext("/bytes", ex -> { // "hello" one byte at a time
            ex.sendResponseHeaders(200, ex.getRequestURI().getQuery().equals("fixed") ? 5 : 0);
            OutputStream out = ex.getResponseBody();
            for (byte b : Http1Wire.bytes("hello")) out.write(b);
            out.close();
            try {
                out.write('!');
            } catch (IOException e) {
                notes.add(e.getMessage()); // refused as closed (not as one byte too many for a fixed length)
            }
            out.close();
            out.flush();
            ex.close();
            try {
                ex.getRequestBody().read();
            } catch (IOException e) {
                notes.add("request closed"); // closing the exchange closes the request body too
            }
        });
        server.createContext("/unclosed", ex -> { // leaves its chunked body open: the layer ends it
            ex.sendResponseHeaders(200, 0);
            ex.getResponseBody().write(Http1Wire.bytes("abc"));
        });
        server.createContext("/hold", ex -> { // does what the query says, then waits until the test releases it
            String q = ex.getRequestURI().getQuery();
            switch (q) {
                case "none" -> ex.sendResponseHeaders(204, -1);
                case "empty" -> ex.sendResponseHeaders(200, -1);
                default -> {
                    boolean fixed = q.endsWith("fixed");
                    ex.sendResponseHeaders(200, fixed ? 5 : 0);
                    ex.getResponseBody().write(Http1Wire.bytes("hello"));
                    if (q.startsWith("flush")) ex.getResponseBody().flush();
                    else if (q.startsWith("exclose")) ex.close();
                    else ex.getResponseBody().close();
                }
            }
            try {
                release.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        server.createContext("/early", ex -> { // writes and closes the body out of turn
            OutputStream out = ex.getResponseBody();
            try {
                out.write('x');
            } catch (IOException e) {
                notes.add("write before headers: IOException");
            }
            try {
                out.close();
                out.flush();
            } catch (IOException e) {
                // refusing it is fine too
            }
            ex.sendResponseHeaders(200, 0);
            out.close(); // an empty chunked body
            out.close();
            ex.close();
        });
        server.createContext("/fewer", ex -> {
            ex.sendResponseHeaders(200, 10);
            ex.getResponseBody().write(Http1Wire.bytes("abc"));
            try {
                ex.getResponseBody().close();
            } catch (IOException e) {
                notes.add(e.getMessage());
            }
        });
        server.createContext("/fail", ex -> { // fails after its chunked answer began
            ex.sendResponseHeaders(200, 0);
            ex.getResponseBody().write(Http1Wire.bytes("abc"));
            ex.getResponseBody().flush();
            throw new IllegalStateException("boom");
        });
        server.createContext("/headers", ex -> {
            Headers h = ex.getResponseHeaders();
            String q = ex.getRequestURI().getQuery();
            if (q.equals("close")) h.set("Connection", "Close");
            else {
                h.set("X-A", "v"); // a value added to the list itself escapes Headers' own checks
                h.get("X-A").add(q.equals("null") ? null : q.equals("lf") ? "\nInjected: 1" : "\rInjected: 1");
            }
            try {
                ex.sendResponseHeaders(200, -1);
            } catch (IllegalArgumentException e) {
                h.remove("X-A");
                Http1Wire.text(ex, 200, "refused");
            }
            ex.close();
        });
        server.createContext("/gone", ex -> { // ?read,wait: reads the body (or not), watches, waits
            List<String> q = List.of(ex.getRequestURI().getQuery().split(","));
            if (q.contains("read")) ex.getRequestBody().readAllBytes();
            if (q.contains("closed")) ex.close();
            CompletableFuture<Void> gone = new CompletableFuture<>();
            Http1Exchange e = (Http1Exchange) ex;
            notes.add("watching " + e.onClientGone(() -> gone.complete(null)));
            if (q.contains("wait")) { // for the client to leave
                awaitQuietly(gone, 10_000);
                notes.add("gone early " + e.clientGone());
                return;
            }
            if (q.contains("long")) awaitQuietly(gone, 1500); // longer than the head timeout
            if (q.contains("big")) { // the whole answer, then the client leaves
                ex.sendResponseHeaders(200, 20_000);
                ex.getResponseBody().write(new byte[20_000]);
                if (q.contains("close")) ex.getResponseBody().close();
                awaitQuietly(gone, 10_000);
                notes.add("gone early " + e.clientGone());
                ex.close();
                return;
            }
            if (q.contains("part")) { // half of a fixed-length answer (then a short close), and the client leaves
                ex.sendResponseHeaders(200, 20_000);
                ex.getResponseBody().write(new byte[10_000]);
                ex.getResponseBody().flush();
                if (q.contains("close")) {
                    try {
                        ex.getResponseBody().close();
                    } catch (IOException expected) {
                        notes.add("short");
                    }
                    try { // closing a closed stream does nothing (Closeable), even after a short close
                        ex.getResponseBody().close();
                    } catch (IOException again) {
                        notes.add("threw again");
                    }
                }
                awaitQuietly(gone, 10_000);
                notes.add("gone early " + e.clientGone());
                return;
            }
            if (q.contains("slow")) awaitQuietly(gone, 300);
            if (!q.contains("closed")) Http1Wire.text(ex, 200, "gone " + gone.isDone() + " " + e.clientGone());
        });
        HttpContext ctx = server.createContext("/wrapped", ex -> {
            ex.setAttribute("a", 1);
            String attrs = new String(ex.getRequestBody().readAllBytes(), StandardCharsets.ISO_8859_1) + ex.getAttribute("a") + " ";
            ex.setAttribute("a", null);
            attrs += ex.getAttribute("a") + " " + ex.getHttpContext().getPath() + " " + ex.getResponseCode() + " "
                    + (ex.getRemoteAddress().getPort() == ex.getLocalAddress().getPort() ? "same" : "ports") + " "
                    + ex.getLocalAddress().getPort() + " " + ex.getPrincipal();
            ex.sendResponseHeaders(200, 0);
            notes.add("code " + ex.getResponseCode());
            ex.getResponseBody().write(Http1Wire.bytes(attrs));
            ex.close();
        });
        ctx.getFilters().add(new Filter() { // upper-cases the answer through setStreams
            @Override
            public void doFilter(HttpExchange ex, Chain chain) throws IOException {
                ex.getResponseHeaders().set("X-Filtered", "yes");
                ex.setStreams(new ByteArrayInputStream(Http1Wire.bytes("in ")), new FilterOutputStream(ex.getResponseBody()) {
                    @Override
                    public void write(byte[] b, int off, int len) throws IOException {
                        out.write(new String(b, off, len, StandardCharsets.ISO_8859_1).toUpperCase(Locale.ROOT)
                                .getBytes(StandardCharsets.ISO_8859_1));
                    }
                });
                chain.doFilter(ex);
            }

            @Override
            public String description() { return "upper case"; }
        });
        server.start();
        port = server.getAddress().getPort();
    }

    @AfterEach
    void stop() {
        release.countDown();
        server.stop(0);
    }

    private static void awaitQuietly(CompletableFuture<Void> f, long millis) {
        try {
            f.get(millis, TimeUnit.MILLISECONDS);
        } catch (TimeoutException | ExecutionException e) {
            // not gone
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private String note() throws InterruptedException {
        String n = notes.poll(10, TimeUnit.SECONDS);
        assertNotNull(n, "no note from the handler");
        return n;
    }

    // ---- framing ----

    @Test
    void eachStatusGetsItsReasonPhrase() throws Exception {
        String[][] reasons = {
            {"200", "OK"}, {"201", "Created"}, {"204", "No Content"}, {"299", "OK"}, {"300", "Redirection"},
            {"304", "Not Modified"}, {"399", "Redirection"}, {"400", "Bad Request"}, {"402", "Client Error"},
            {"404", "Not Found"}, {"405", "Method Not Allowed"}, {"408", "Request Timeout"}, {"409", "Conflict"},
            {"413", "Content Too Large"}, {"414", "URI Too Long"}, {"429", "Too Many Requests"},
            {"431", "Request Header Fields Too Large"}, {"499", "Client Error"}, {"500", "Internal Server Error"},
            {"501", "Not Implemented"}, {"503", "Service Unavailable"}, {"504", "Gateway Timeout"},
            {"505", "HTTP Version Not Supported"}, {"599", "Server Error"}, {"999", "Server Error"},
        };
        try (Conn c = new Conn(port)) { // all on one connection: each answer framed exactly
            for (String[] r : reasons) {
                Reply a = c.send("GET /answer?" + r[0] + ",-1 HTTP/1.1\r\n" + HOST + "\r\n").read();
                assertEquals("HTTP/1.1 " + r[0] + " " + r[1], a.statusLine());
                assertNotNull(a.header("Date"));
            }
        }
    }

    @Test
    void statusCodesBelow200OrAbove999AreRefused() throws Exception {
        try (Conn c = new Conn(port)) {
            for (int code : new int[] {100, 199, 1000}) {
                assertEquals("refused " + code, c.send("GET /code?" + code + " HTTP/1.1\r\n" + HOST + "\r\n").read().text());
            }
            for (int code : new int[] {200, 999}) assertEquals(code, c.send("GET /code?" + code + " HTTP/1.1\r\n" + HOST + "\r\n").read().status());
        }
    }

    /** The framing headers of {@code method}'s answer with {@code code} and {@code len}, and its body. */
    private static Reply framed(Conn c, String method, String code, int len, String protocol) throws IOException {
        String write = len > 0 ? "x".repeat(len) : len == 0 ? "chunk" : "";
        String host = protocol.equals("HTTP/1.1") ? HOST : "Connection: keep-alive\r\n";
        return c.send(method + " /answer?" + code + "," + len + "," + write + " " + protocol + "\r\n" + host + "\r\n").read(method.equals("HEAD"));
    }

    private static void assertFraming(Reply r, String length, String coding, String body) {
        assertEquals(length, r.header("Content-Length"), r.headerLines().toString());
        assertEquals(coding, r.header("Transfer-Encoding"), r.headerLines().toString());
        assertEquals(body, r.text());
    }

    @Test
    void theFramingFollowsTheStatusTheMethodAndTheLength() throws Exception {
        try (Conn c = new Conn(port)) { // on one connection: any byte too many or too few breaks the next answer
            assertFraming(framed(c, "GET", "200", 5, "HTTP/1.1"), "5", null, "xxxxx");
            assertFraming(framed(c, "GET", "200", 0, "HTTP/1.1"), null, "chunked", "chunk");
            assertFraming(framed(c, "GET", "200", -1, "HTTP/1.1"), "0", null, "");
            for (String code : new String[] {"204", "304"}) { // no body, and no length (RFC 9110 8.6)
                for (int len : new int[] {-1, 0, 5}) assertFraming(framed(c, "GET", code, len, "HTTP/1.1"), null, null, "");
            }
            // HEAD: the length a GET would have, when known; no body whatever the handler writes
            assertFraming(framed(c, "HEAD", "200", 5, "HTTP/1.1"), "5", null, "");
            assertFraming(framed(c, "HEAD", "200", 0, "HTTP/1.1"), null, null, "");
            assertFraming(framed(c, "HEAD", "200", -1, "HTTP/1.1"), null, null, "");
            assertFraming(framed(c, "HEAD", "404", 5, "HTTP/1.1"), "5", null, "");
            // HTTP/1.0 with keep-alive: said back, while a fixed length allows it
            Reply r = framed(c, "GET", "200", 3, "HTTP/1.0");
            assertFraming(r, "3", null, "xxx");
            assertEquals("keep-alive", r.header("Connection"));
            assertEquals("ok", c.send("GET /ok HTTP/1.1\r\n" + HOST + "\r\n").read().text());
            assertTrue(notes.stream().allMatch("refused"::equals), notes.toString()); // the 204s and 304s refused their bytes
            // HTTP/1.0 knows no chunks: a body of unknown length ends with the connection
            r = framed(c, "GET", "200", 0, "HTTP/1.0");
            assertFraming(r, null, null, "chunk");
            assertEquals("close", r.header("Connection"));
        }
    }

    @Test
    void singleBytesReachTheBodyAndWritesAfterCloseAreRefused() throws Exception {
        try (Conn c = new Conn(port)) {
            assertEquals("hello", c.send("GET /bytes?fixed HTTP/1.1\r\n" + HOST + "\r\n").read().text());
            assertEquals("stream is closed", note());
            assertEquals("request closed", note());
            assertEquals("hello", c.send("GET /bytes?chunked HTTP/1.1\r\n" + HOST + "\r\n").read().text());
            assertEquals("stream is closed", note());
            assertEquals("request closed", note());
            assertFraming(c.send("GET /unclosed HTTP/1.1\r\n" + HOST + "\r\n").read(), null, "chunked", "abc");
            Reply r = c.send("GET /early HTTP/1.1\r\n" + HOST + "\r\n").read(); // closed twice: one last chunk
            assertEquals("write before headers: IOException", note());
            assertFraming(r, null, "chunked", "");
            assertEquals("ok", c.send("GET /ok HTTP/1.1\r\n" + HOST + "\r\n").read().text());
        }
        try (Conn c = new Conn(port)) {
            assertEquals("hello", c.send("GET /bytes?raw HTTP/1.0\r\n\r\n").read().text());
            assertEquals("stream is closed", note());
            assertEquals("request closed", note());
        }
    }

    @Test
    void flushAndCloseSendTheAnswerBeforeTheHandlerReturns() throws Exception {
        String[] ways = {"flush-fixed", "flush-chunked", "close-fixed", "close-chunked", "exclose-chunked", "none", "empty"};
        for (String way : ways) {
            try (Conn c = new Conn(port)) {
                c.socket.setSoTimeout(5_000);
                c.send("GET /hold?" + way + " HTTP/1.1\r\n" + HOST + "\r\n");
                Reply r = c.read(true); // the head, then what was flushed
                assertEquals(way.equals("none") ? 204 : 200, r.status(), way);
                if (way.endsWith("fixed") || way.endsWith("chunked")) {
                    byte[] hello = way.endsWith("fixed") ? c.in.readNBytes(5) : null;
                    if (hello == null) {
                        assertEquals("5", c.line(), way);
                        hello = c.in.readNBytes(5);
                    }
                    assertEquals("hello", new String(hello, StandardCharsets.ISO_8859_1), way);
                }
                if (way.equals("close-chunked") || way.equals("exclose-chunked")) {
                    assertEquals("", c.line());
                    assertEquals("0", c.line(), way);
                }
            }
        }
        for (String raw : new String[] {"flush-raw", "close-raw"}) {
            try (Conn c = new Conn(port)) {
                c.socket.setSoTimeout(5_000);
                c.send("GET /hold?" + raw + " HTTP/1.0\r\n\r\n");
                assertEquals(200, c.read(true).status());
                assertEquals("hello", new String(c.in.readNBytes(5), StandardCharsets.ISO_8859_1), raw);
            }
        }
    }

    // ---- what closes the connection ----

    @Test
    void aShortBodyAFailedHandlerOrConnectionCloseEndTheConnection() throws Exception {
        try (Conn c = new Conn(port)) { // three bytes of ten: the client sees them cut off
            Reply r = c.send("GET /fewer HTTP/1.1\r\n" + HOST + "\r\n" + "GET /ok HTTP/1.1\r\n" + HOST + "\r\n").read(true);
            assertEquals("10", r.header("Content-Length"));
            assertEquals("abc", new String(c.in.readNBytes(10), StandardCharsets.ISO_8859_1));
            assertEquals("insufficient bytes written to stream", note());
        }
        try (Conn c = new Conn(port)) { // a chunked answer cut off by a failing handler ends without its last chunk
            Reply r = c.send("GET /fail HTTP/1.1\r\n" + HOST + "\r\n").read(true);
            assertEquals("chunked", r.header("Transfer-Encoding"));
            assertEquals("3", c.line());
            assertEquals("abc", c.line());
            c.assertClosed(Duration.ofSeconds(5));
        }
        try (Conn c = new Conn(port)) { // the handler's own Connection: close, in any case
            Reply r = c.send("GET /headers?close HTTP/1.1\r\n" + HOST + "\r\n").read();
            assertEquals("close", r.header("Connection"));
            c.assertClosed(Duration.ofSeconds(5));
        }
        try (Conn c = new Conn(port)) { // the client's Connection: close
            assertEquals("close", c.send("GET /ok HTTP/1.1\r\n" + HOST + "Connection: keep-alive, Close\r\n\r\n").read().header("Connection"));
            c.assertClosed(Duration.ofSeconds(5));
        }
        try (Conn c = new Conn(port)) { // HTTP/1.0 closes unless asked to keep the connection
            assertEquals("close", c.send("GET /ok HTTP/1.0\r\n\r\n").read().header("Connection"));
            c.assertClosed(Duration.ofSeconds(5));
        }
        try (Conn c = new Conn(port)) {
            assertEquals("keep-alive", c.send("GET /ok HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").read().header("Connection"));
            assertEquals("ok", c.send("GET /ok HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").read().text());
        }
        List<Integer> told = new ArrayList<>();
        server.onLayerAnswer(told::add);
        try (Conn c = new Conn(port)) { // the layer's own answers are told; a handler's failure after answering is not
            c.send("GET /fail HTTP/1.1\r\n" + HOST + "\r\n").read(true);
            assertEquals("3", c.line());
            assertEquals("abc", c.line());
            c.assertClosed(Duration.ofSeconds(5));
        }
        assertEquals(List.of(), told);
    }

    @Test
    void responseHeadersCannotCarryLineBreaks() throws Exception {
        try (Conn c = new Conn(port)) {
            assertEquals("refused", c.send("GET /headers?lf HTTP/1.1\r\n" + HOST + "\r\n").read().text());
            assertEquals("refused", c.send("GET /headers?cr HTTP/1.1\r\n" + HOST + "\r\n").read().text());
            Reply r = c.send("GET /headers?null HTTP/1.1\r\n" + HOST + "\r\n").read(); // a null value is an empty one
            assertEquals(List.of("v", ""), r.headers("X-A"));
        }
    }

    @Test
    void filtersAttributesAndTheExchangesOwnFields() throws Exception {
        try (Conn c = new Conn(port)) {
            Reply r = c.send("GET /wrapped HTTP/1.1\r\n" + HOST + "\r\n").read();
            assertEquals("yes", r.header("X-Filtered"));
            assertEquals("IN 1 NULL /WRAPPED -1 PORTS " + port + " NULL", r.text());
            assertEquals("code 200", note());
        }
    }

    // ---- the client's hang-up ----

    @Test
    void aClientThatLeavesIsSeenOnceItsRequestWasRead() throws Exception {
        try (Conn c = new Conn(port)) {
            c.send("POST /gone?read,wait HTTP/1.1\r\n" + HOST + "Content-Length: 3\r\n\r\nabc");
            assertEquals("watching true", note());
        }
        assertEquals("gone early true", note());
        try (Conn c = new Conn(port)) { // a chunked body read to its end
            c.send("POST /gone?read,wait HTTP/1.1\r\n" + HOST + "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
            assertEquals("watching true", note());
            c.socket.shutdownOutput(); // a half-close counts as gone
            assertEquals("gone early true", note());
        }
        try (Conn c = new Conn(port)) { // a client that stays, past the head timeout, is not gone
            assertEquals("gone false false", c.send("GET /gone?long HTTP/1.1\r\n" + HOST + "\r\n").read().text());
            assertEquals("watching true", note());
        }
        for (String big : new String[] {"big", "big,close"}) { // the whole answer sent (and closed), then the client leaves: not early
            try (Conn c = new Conn(port)) {
                Reply r = c.send("GET /gone?" + big + " HTTP/1.1\r\n" + HOST + "\r\n").read();
                assertEquals(20_000, r.body().length);
                assertEquals("watching true", note());
            }
            assertEquals("gone early false", note(), big);
        }
        for (String part : new String[] {"part", "part,close"}) { // half the answer sent (or closed short): early
            try (Conn c = new Conn(port)) {
                c.send("GET /gone?" + part + " HTTP/1.1\r\n" + HOST + "\r\n");
                assertEquals("HTTP/1.1 200 OK", c.line());
                assertEquals("watching true", note());
                if (part.endsWith("close")) assertEquals("short", note());
            }
            assertEquals("gone early true", note(), part);
        }
    }

    @Test
    void nothingIsWatchedBeforeTheBodyIsReadAfterTheExchangeOrWithAPipelinedRequest() throws Exception {
        try (Conn c = new Conn(port)) {
            assertEquals("gone false false", c.send("POST /gone?unread HTTP/1.1\r\n" + HOST + "Content-Length: 3\r\n\r\nabc").read().text());
            assertEquals("watching false", note());
            c.send("GET /gone?closed HTTP/1.1\r\n" + HOST + "\r\n");
            assertEquals("watching false", note());
        }
        try (Conn c = new Conn(port)) {
            c.send("GET /gone?now HTTP/1.1\r\n" + HOST + "\r\n" + "GET /ok HTTP/1.1\r\n" + HOST + "\r\n");
            assertEquals("gone false false", c.read().text());
            assertEquals("ok", c.read().text());
            assertEquals("watching false", note());
        }
        try (Conn c = new Conn(port)) { // a request that arrives while watched is the next one
            c.send("GET /gone?slow HTTP/1.1\r\n" + HOST + ("X-Pad: " + "p".repeat(6_000) + "\r\n").repeat(2) + "\r\n");
            assertEquals("watching true", note());
            c.send("GET /ok HTTP/1.1\r\n" + HOST + ("X-Pad: " + "p".repeat(4_500) + "\r\n").repeat(2) + "\r\n");
            assertEquals("gone false false", c.read().text());
            assertEquals("ok", c.read().text());
        }
        assertNull(notes.poll());
    }
}
