package dev.panamadiffusion.server;

import com.sun.net.httpserver.HttpExchange;
import dev.panamadiffusion.server.Http1Wire.Conn;
import dev.panamadiffusion.server.Http1Wire.Reply;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * How {@link Http1Connection} and {@link Http1Body} read requests (RFC 9112), at the limits they document: the request
 * line and header lines (8192 bytes), the header and trailer sections (65536 bytes, 100 lines), chunk sizes (at most 15
 * hex digits), what a body left unread costs ({@link Http1Connection#DRAIN_LIMIT}), and {@code Expect: 100-continue}.
 * Each limit is tried at its value and one past it.
 */
class Http1FramingTest {
    private static final Duration HEAD = Duration.ofSeconds(1);
    private static final Duration IDLE = Duration.ofSeconds(5);
    private static final String HOST = "Host: x\r\n";
    private Http1Server server;
    private int port;

    @BeforeEach
    void start() throws IOException {
        server = Http1Wire.server(HEAD, IDLE);
        server.createContext("/echo", ex -> { // byte by byte: read() must give each byte, then -1
            InputStream in = ex.getRequestBody();
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            for (int c; (c = in.read()) != -1; ) b.write(c);
            if (in.read(new byte[1], 0, 0) != 0) throw new IOException("a read of no bytes must return 0, even at the end");
            answer(ex, b.toByteArray());
        });
        server.createContext("/header", ex -> answer(ex, Http1Wire.bytes(ex.getRequestHeaders().getOrDefault("X-A", java.util.List.of()).toString())));
        server.createContext("/ignore", ex -> answer(ex, Http1Wire.bytes("ok")));
        server.createContext("/early", ex -> { // answers before reading the body
            ex.sendResponseHeaders(200, 6);
            String what;
            try {
                ex.getRequestBody().readAllBytes();
                what = "readok";
            } catch (IOException | RuntimeException e) {
                what = "caught";
            }
            ex.getResponseBody().write(Http1Wire.bytes(what));
            ex.close();
        });
        server.createContext("/first2", ex -> { // reads two bytes of the body, leaves the rest
            answer(ex, ex.getRequestBody().readNBytes(2));
        });
        server.createContext("/twice", ex -> { // reads again after the body failed
            InputStream in = ex.getRequestBody();
            String first = "none", second = "none";
            try {
                in.readAllBytes();
            } catch (HttpError e) {
                first = Integer.toString(e.status);
            }
            try {
                in.read();
            } catch (IOException | RuntimeException e) {
                second = e.getClass().getSimpleName();
            }
            answer(ex, Http1Wire.bytes(first + " " + second));
        });
        server.createContext("/closed", ex -> { // reads after closing the body
            ex.getRequestBody().close();
            String what = "read";
            try {
                ex.getRequestBody().read();
            } catch (IOException e) {
                what = "IOException";
            }
            answer(ex, Http1Wire.bytes(what));
        });
        server.start();
        port = server.getAddress().getPort();
    }

    @AfterEach
    void stop() {
        server.stop(0);
    }

    private static void answer(HttpExchange ex, byte[] body) throws IOException {
        ex.sendResponseHeaders(200, body.length == 0 ? -1 : body.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(body);
        }
    }

    /** Sends {@code request} on a new connection and reads one answer. */
    private Reply send(String request) throws IOException {
        try (Conn c = new Conn(port)) {
            return c.send(request).read();
        }
    }

    /** A layer's JSON error: {@code status}, its message containing {@code message}, and the connection closing. */
    private static void assertRefused(Reply r, int status, String message) {
        assertEquals(status, r.status(), r.text());
        assertEquals("close", r.header("Connection"), r.headerLines().toString());
        assertTrue(r.text().contains(message), r.text());
    }

    private static String post(String path, String extraHeaders, String body) {
        return "POST " + path + " HTTP/1.1\r\n" + HOST + extraHeaders + "Content-Length: " + body.length() + "\r\n\r\n" + body;
    }

    private static String chunkedPost(String path, String chunks) {
        return "POST " + path + " HTTP/1.1\r\n" + HOST + "Transfer-Encoding: chunked\r\n\r\n" + chunks;
    }

    // ---- the request head ----

    @Test
    void requestLinesAndHeaderLinesMayHave8192BytesAndNoMore() throws Exception {
        String target = "/" + "a".repeat(8192 - "GET / HTTP/1.1".length());
        assertEquals(404, send("GET " + target + " HTTP/1.1\r\n" + HOST + "\r\n").status());
        assertRefused(send("GET " + target + "a HTTP/1.1\r\n" + HOST + "\r\n"), 414, "the request line is longer than 8192 bytes");
        try (Conn c = new Conn(port)) { // 8192 bytes and a CR, its LF still to come
            c.send("GET " + target + " HTTP/1.1\r");
            Thread.sleep(100);
            assertEquals(404, c.send("\n" + HOST + "\r\n").read().status());
        }
        String value = "v".repeat(8192 - "X-A: ".length());
        assertEquals("[" + value + "]", send("GET /header HTTP/1.1\r\n" + HOST + "X-A: " + value + "\r\n\r\n").text());
        assertRefused(send("GET /header HTTP/1.1\r\n" + HOST + "X-A: " + value + "v\r\n\r\n"), 431, "a header line is longer than 8192 bytes");
        try (Conn c = new Conn(port)) { // a line that never ends: refused as soon as it is too long (not a 408 later)
            Reply r = c.send("GET /header HTTP/1.1\r\n" + HOST + "X-A: " + "v".repeat(20_000)).read();
            assertRefused(r, 431, "a header line is longer than 8192 bytes");
        }
    }

    @Test
    void theHeaderSectionMayHave65536BytesAnd100LinesAndNoMore() throws Exception {
        // each line counts with its CRLF: Host (9 bytes), seven of 8192, and one of 8183 make 65536
        StringBuilder head = new StringBuilder("GET /header HTTP/1.1\r\n" + HOST);
        for (int i = 0; i < 7; i++) head.append("X-B").append(i).append(": ").append("v".repeat(8192 - 8)).append("\r\n");
        String last = "X-A: " + "v".repeat(8181 - 5);
        Reply r = send(head + last + "\r\n\r\n");
        assertEquals(200, r.status(), r.text());
        assertRefused(send(head + last + "v\r\n\r\n"), 431, "the request headers are larger than 65536 bytes");
        StringBuilder many = new StringBuilder("GET /header HTTP/1.1\r\n" + HOST);
        for (int i = 0; i < 99; i++) many.append("X-A: ").append(i).append("\r\n");
        assertEquals(200, send(many + "\r\n").status());
        assertRefused(send(many + "X-A: 99\r\n\r\n"), 431, "more than 100 request headers");
    }

    @Test
    void upToSevenEmptyLinesMayPrecedeARequest() throws Exception {
        assertEquals("[1]", send("\r\nGET /header HTTP/1.1\r\n" + HOST + "X-A: 1\r\n\r\n").text());
        assertEquals("[7]", send("\r\n".repeat(7) + "GET /header HTTP/1.1\r\n" + HOST + "X-A: 7\r\n\r\n").text());
        assertRefused(send("\r\n".repeat(8) + "GET /header HTTP/1.1\r\n" + HOST + "\r\n"), 400, "malformed request line");
    }

    @Test
    void aBareLineFeedEndsTheHeadEvenAloneInItsPacket() throws Exception {
        try (Conn c = new Conn(port)) {
            c.send("GET /header HTTP/1.1\nHost: x\nX-A: lf\n");
            Thread.sleep(100);
            assertEquals("[lf]", c.send("\n").read().text());
        }
    }

    @Test
    void aHeadThatEndsOrStallsIsAnsweredAndTheTimeoutsApplyWhereTheyShould() throws Exception {
        try (Conn c = new Conn(port)) {
            c.send("GET /header HTTP/1.1\r\n" + HOST).socket.shutdownOutput();
            assertRefused(c.read(), 400, "the connection ended inside the request head");
        }
        try (Conn c = new Conn(port)) {
            c.send("GET /head").socket.shutdownOutput();
            assertRefused(c.read(), 400, "the connection ended inside the request line");
        }
        try (Conn c = new Conn(port)) { // a new connection that says nothing gets the head timeout, not the idle one
            c.assertClosed(IDLE.minusSeconds(2));
        }
        try (Conn c = new Conn(port)) { // an empty line starts a head: it must be complete within the head timeout
            assertEquals(200, c.send("GET /header HTTP/1.1\r\n" + HOST + "\r\n").read().status());
            long t0 = System.nanoTime();
            assertRefused(c.send("\r\n").read(), 408, "the request head did not arrive within 1 s");
            assertTrue(System.nanoTime() - t0 < IDLE.minusSeconds(2).toNanos(), "waited for the idle timeout");
        }
    }

    @Test
    void headerValuesAreTrimmedAndMayHoldTabsAndObsTextButNoControls() throws Exception {
        assertEquals("[a\tb]", send("GET /header HTTP/1.1\r\n" + HOST + "X-A: \t a\tb \t \r\n\r\n").text());
        Reply r = send("GET /header HTTP/1.1\r\n" + HOST + "X-A:caf\u00e9\r\n\r\n");
        assertEquals("[caf\u00e9]", new String(r.body(), StandardCharsets.ISO_8859_1));
        assertEquals("[, ]", send("GET /header HTTP/1.1\r\n" + HOST + "X-A:\r\nX-A: \t \r\n\r\n").text()); // empty values
        assertEquals("123456789", send(post("/echo", "", "123456789")).text());
        assertEquals(200, send(post("/echo", "", "")).status());
        assertRefused(send("GET /header HTTP/1.1\r\n" + HOST + "X-A: a\u007fb\r\n\r\n"), 400, "holds a control character");
        assertRefused(send("GET /header HTTP/1.1\r\n" + HOST + "X-A: 1\r\n\tfolded: 2\r\n\r\n"), 400, "obs-fold");
        assertRefused(send("GET /header HTTP/1.1\r\n" + HOST + ": 1\r\n\r\n"), 400, "malformed header name");
        // empty list elements count for nothing (RFC 9110 5.6.1)
        assertEquals("ok", send("POST /echo HTTP/1.1\r\n" + HOST + "Transfer-Encoding: ,chunked ,\r\n\r\n2\r\nok\r\n0\r\n\r\n").text());
    }

    @Test
    void requestTargetsArePrintableAscii() throws Exception {
        for (String bad : new String[] {"/a\u0001b", "/a\u007fb", "/caf\u00e9", "/a\tb"}) {
            assertRefused(send("GET " + bad + " HTTP/1.1\r\n" + HOST + "\r\n"), 400, "it must be printable ASCII");
        }
        assertEquals(404, send("OPTIONS * HTTP/1.1\r\n" + HOST + "\r\n").status()); // the asterisk form, for OPTIONS only
        assertRefused(send("GET * HTTP/1.1\r\n" + HOST + "\r\n"), 400, "malformed request target");
        assertRefused(send(" /echo HTTP/1.1\r\n" + HOST + "\r\n"), 400, "malformed request line (expected");
        assertRefused(send("GET  HTTP/1.1\r\n" + HOST + "\r\n"), 400, "malformed request line (expected");
    }

    @Test
    void aContentLengthMayHave18DigitsAndIsQuotedReadablyWhenBad() throws Exception {
        Reply r = send("POST /ignore HTTP/1.1\r\n" + HOST + "Content-Length: 100000000000000000\r\n\r\n");
        assertEquals(200, r.status()); // accepted; the body is left unread, too long to drain: the connection closes
        assertEquals("close", r.header("Connection"));
        assertRefused(send("POST /ignore HTTP/1.1\r\n" + HOST + "Content-Length: 1000000000000000000\r\n\r\n"), 413,
                "larger than this server accepts");
        String forty = "x".repeat(40);
        assertRefused(send("POST /ignore HTTP/1.1\r\n" + HOST + "Content-Length: " + forty + "\r\n\r\n"), 400, "'" + forty + "'");
        assertRefused(send("POST /ignore HTTP/1.1\r\n" + HOST + "Content-Length: " + forty + "y\r\n\r\n"), 400, "'" + forty + "\u2026'");
        assertRefused(send("POST /ignore HTTP/1.1\r\n" + HOST + "Content-Length: 1\u00e92\r\n\r\n"), 400, "'1?2'");
    }

    @Test
    void readFormatsSecondsAsAClientReadsThem() {
        assertEquals("30 s", Http1Connection.seconds(Duration.ofSeconds(30)));
        assertEquals("1 s", Http1Connection.seconds(Duration.ofSeconds(1)));
        assertEquals("0.4 s", Http1Connection.seconds(Duration.ofMillis(400)));
        assertEquals("1.5 s", Http1Connection.seconds(Duration.ofMillis(1500)));
    }

    // ---- chunked bodies ----

    @Test
    void chunkSizesAreOneToFifteenHexDigitsWithWhitespaceAndExtensions() throws Exception {
        assertEquals("0123456789abcdef", send(chunkedPost("/echo", "A\r\n0123456789\r\n6 \t ;name=\"v a\"\t;x\r\nabcdef\r\n0\r\n\r\n")).text());
        assertEquals("hello", send(chunkedPost("/echo", "000000000000005\r\nhello\r\n0\r\n\r\n")).text());
        assertRefused(send(chunkedPost("/echo", "0000000000000005\r\nhello\r\n0\r\n\r\n")), 413, "a chunk of 16 hex digits");
        assertRefused(send(chunkedPost("/echo", "10000000000000000\r\n")), 413, "a chunk of 17 hex digits");
        assertRefused(send(chunkedPost("/echo", "2\r\nabc\r\n0\r\n\r\n")), 400, "a chunk is longer than its size says");
        for (String bad : new String[] {"zzzzzzzzzzzzzzzz", "", ";x=1", " 5", "5x"}) {
            assertRefused(send(chunkedPost("/echo", bad + "\r\nhello\r\n0\r\n\r\n")), 400, "a chunk size must be hex digits");
        }
        for (String ext : new String[] {";x=\u0001", ";x=\u007f"}) {
            assertRefused(send(chunkedPost("/echo", "5" + ext + "\r\nhello\r\n0\r\n\r\n")), 400, "a control character in a chunk extension");
        }
    }

    @Test
    void trailersAreReadWithinTheHeaderLimitsAndDropped() throws Exception {
        try (Conn c = new Conn(port)) { // read to their end: the next request follows
            c.send(chunkedPost("/echo", "2\r\nok\r\n0\r\nX-T: 1\r\nX-U: 2\r\n\r\n") + "GET /header HTTP/1.1\r\n" + HOST + "X-A: next\r\n\r\n");
            assertEquals("ok", c.read().text());
            assertEquals("[next]", c.read().text());
        }
        StringBuilder hundred = new StringBuilder();
        for (int i = 0; i < 100; i++) hundred.append("X-T").append(i).append(": v\r\n");
        assertEquals("ok", send(chunkedPost("/echo", "2\r\nok\r\n0\r\n" + hundred + "\r\n")).text());
        assertRefused(send(chunkedPost("/echo", "2\r\nok\r\n0\r\n" + hundred + "X-T: v\r\n\r\n")), 431, "trailer section is too large");
        StringBuilder big = new StringBuilder(); // eight lines of 8190 bytes and their CRLFs: 65536
        for (int i = 0; i < 8; i++) big.append("X-T").append(i).append(": ").append("v".repeat(8190 - 6)).append("\r\n");
        assertEquals("ok", send(chunkedPost("/echo", "2\r\nok\r\n0\r\n" + big + "\r\n")).text());
        assertRefused(send(chunkedPost("/echo", "2\r\nok\r\n0\r\n" + big + "X: \r\n\r\n")), 431, "trailer section is too large");
        assertRefused(send(chunkedPost("/echo", "2\r\nok\r\n0\r\nno colon\r\n\r\n")), 400, "malformed trailer line");
    }

    @Test
    void aChunkedBodyMayArriveInPiecesButNotEndEarly() throws Exception {
        try (Conn c = new Conn(port)) {
            c.send(chunkedPost("/echo", ""));
            for (String piece : new String[] {"3\r\n", "abc", "\r\n2;e=1\r\n", "de\r\n", "0\r\n", "\r\n"}) {
                Thread.sleep(50);
                c.send(piece);
            }
            assertEquals("abcde", c.read().text());
        }
        String[][] cut = {
            {"5\r\nab", "the connection ended inside the request body"},
            {"5\r\nhello\r\n", "the connection ended inside the request body"},
            {"5\r\nhello\r\n3", "the connection ended inside a chunk size line"},
        };
        for (String[] c : cut) {
            try (Conn conn = new Conn(port)) {
                conn.send(chunkedPost("/echo", c[0])).socket.shutdownOutput();
                assertRefused(conn.read(), 400, c[1]);
            }
        }
    }

    // ---- reading bodies ----

    @Test
    void aBodyThatFailedOrWasClosedCannotBeReadAgain() throws Exception {
        try (Conn c = new Conn(port)) {
            c.send("POST /twice HTTP/1.1\r\n" + HOST + "Content-Length: 10\r\n\r\nabc").socket.shutdownOutput();
            Reply r = c.read();
            assertEquals("400 IOException", r.text()); // the 400 once; then the stream is broken, not read again
            assertEquals("close", r.header("Connection"));
        }
        assertEquals("IOException", send(post("/closed", "", "abc")).text());
    }

    @Test
    void anUnreadBodyIsDrainedUpToTheLimitThenTheConnectionCloses() throws Exception {
        String next = "GET /header HTTP/1.1\r\n" + HOST + "X-A: next\r\n\r\n";
        int limit = (int) Http1Connection.DRAIN_LIMIT;
        try (Conn c = new Conn(port)) {
            c.send(post("/ignore", "", "abc") + next);
            assertNull(c.read().header("Connection"));
            assertEquals("[next]", c.read().text());
            c.send(post("/ignore", "", "x".repeat(limit)) + next);
            assertNull(c.read().header("Connection"));
            assertEquals("[next]", c.read().text());
        }
        try (Conn c = new Conn(port)) { // one byte more than is drained: said at once
            assertEquals("close", c.send("POST /ignore HTTP/1.1\r\n" + HOST + "Content-Length: " + (limit + 1) + "\r\n\r\n").read().header("Connection"));
            c.assertClosed(Duration.ofSeconds(5));
        }
        String chunk = "10000\r\n" + "x".repeat(0x10000) + "\r\n";
        String mib = chunk.repeat(limit / 0x10000);
        try (Conn c = new Conn(port)) { // a chunked body of exactly the limit is drained
            c.send(chunkedPost("/ignore", mib + "0\r\n\r\n") + next);
            assertEquals("ok", c.read().text());
            assertEquals("[next]", c.read().text());
        }
        try (Conn c = new Conn(port)) { // one byte more: found out while draining, so the connection just closes
            c.send(chunkedPost("/ignore", mib + "1\r\nx\r\n0\r\n\r\n") + next);
            assertEquals("ok", c.read().text());
            c.assertClosed(Duration.ofSeconds(5));
        }
        try (Conn c = new Conn(port)) { // a malformed body found while draining
            c.send(chunkedPost("/ignore", "zz\r\n") + next);
            assertEquals("ok", c.read().text());
            c.assertClosed(Duration.ofSeconds(5));
        }
        try (Conn c = new Conn(port)) { // a body that broke after the answer began is not drained
            c.send(chunkedPost("/early", "zz\r\n0\r\n\r\n") + next);
            Reply r = c.read();
            assertEquals("caught", r.text());
            assertNull(r.header("Connection"));
            c.assertClosed(Duration.ofSeconds(5));
        }
    }

    // ---- Expect: 100-continue ----

    @Test
    void expect100ContinueIsAnsweredOnceWhenTheHandlerReadsTheBody() throws Exception {
        for (String expect : new String[] {"100-continue", "100-Continue"}) {
            try (Conn c = new Conn(port)) {
                c.send("POST /echo HTTP/1.1\r\n" + HOST + "Expect: " + expect + "\r\nContent-Length: 5\r\n\r\n");
                Reply r = c.read();
                assertEquals("HTTP/1.1 100 Continue", r.statusLine());
                assertEquals("hello", c.send("hello").read().text()); // read byte by byte: still one 100
            }
        }
        // HTTP/1.0 has no 100 Continue, and an expectation this server does not know is ignored
        try (Conn c = new Conn(port)) {
            Reply r = c.send("POST /echo HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi").read();
            assertEquals(200, r.status());
            assertEquals("hi", r.text());
        }
        assertEquals("HTTP/1.1 200 OK", send(post("/echo", "Expect: something\r\n", "hi")).statusLine());
        // an answer begun before the body is read: no 100 after it
        Reply r = send(post("/early", "Expect: 100-continue\r\n", "hi"));
        assertEquals(200, r.status());
        assertEquals("readok", r.text());
        // answered without reading it: no 100, and the connection closes (the client may or may not send the body)
        try (Conn c = new Conn(port)) {
            r = c.send("POST /ignore HTTP/1.1\r\n" + HOST + "Expect: 100-continue\r\nContent-Length: 5\r\n\r\n").read();
            assertEquals("ok", r.text());
            assertEquals("close", r.header("Connection"));
        }
    }

    /**
     * After a 100 Continue the client sends its body, so what the handler left of it is drained and the connection
     * serves the next request; and with an empty body nothing is awaited, 100 or not.
     */
    @Test
    void expect100ContinueKeepsTheConnectionWhenTheBodyIsAnsweredOrEmpty() throws Exception {
        String next = "GET /header HTTP/1.1\r\n" + HOST + "X-A: next\r\n\r\n";
        try (Conn c = new Conn(port)) { // the handler reads 2 of 5 bytes: 3 drained
            c.send("POST /first2 HTTP/1.1\r\n" + HOST + "Expect: 100-continue\r\nContent-Length: 5\r\n\r\n");
            assertEquals("HTTP/1.1 100 Continue", c.read().statusLine());
            Reply r = c.send("hello" + next).read();
            assertEquals("he", r.text());
            assertNull(r.header("Connection"));
            assertEquals("[next]", c.read().text());
        }
        try (Conn c = new Conn(port)) { // Content-Length 0: the body is complete, no 100 needed to keep the connection
            Reply r = c.send("POST /ignore HTTP/1.1\r\n" + HOST + "Expect: 100-continue\r\nContent-Length: 0\r\n\r\n" + next).read();
            assertEquals("HTTP/1.1 200 OK", r.statusLine());
            assertNull(r.header("Connection"));
            assertEquals("[next]", c.read().text());
        }
    }
}
