package dev.panamadiffusion.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.panamadiffusion.api.DiffusionEngine;
import dev.panamadiffusion.api.EngineOptions;
import dev.panamadiffusion.io.DemoModel;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The server's own HTTP/1.1 layer ({@link Http1Server}) driven byte by byte over raw sockets, on the demo model: what
 * it refuses is answered with JSON and the right status (never the JDK's HTML page), chunked bodies,
 * {@code Expect: 100-continue}, keep-alive, pipelining, bare LF line ends, and a client that hangs up cancels its
 * generation.
 */
class HttpLayerTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    static final String TXT2IMG = "{\"prompt\": \"a red circle\", \"steps\": 1, \"seed\": 1}";
    private static DiffusionEngine engine;
    private static ImageServer server;

    @BeforeAll
    static void start() throws Exception {
        engine = DiffusionEngine.open(EngineOptions.defaults(DemoModel.locate()).withBackend("cpu").withQueueCapacity(4));
        server = ImageServer.start(engine, new InetSocketAddress("127.0.0.1", 0), 1 << 16);
    }

    @AfterAll
    static void stop() {
        if (server != null) server.close();
        if (engine != null) engine.close();
    }

    /** One parsed answer. */
    record Answer(int status, Map<String, String> headers, String body) {
        String header(String name) { return headers.get(name.toLowerCase(Locale.ROOT)); }
    }

    /** Reads one answer from {@code in}: its body by Content-Length, chunked, or up to the end of the stream. */
    static Answer read(InputStream in) throws IOException {
        return read(in, false);
    }

    /** {@link #read(InputStream)}; the answer to a HEAD request ({@code head}) has no body whatever its headers say. */
    static Answer read(InputStream in, boolean head) throws IOException {
        String status = line(in);
        if (status == null) throw new EOFException("no answer");
        int code = Integer.parseInt(status.split(" ")[1]);
        Map<String, String> headers = new LinkedHashMap<>();
        for (String h; !(h = line(in)).isEmpty(); ) {
            int colon = h.indexOf(':');
            headers.put(h.substring(0, colon).toLowerCase(Locale.ROOT), h.substring(colon + 1).strip());
        }
        byte[] body;
        if (code < 200 || code == 204 || code == 304 || head) body = new byte[0];
        else if (headers.containsKey("content-length")) body = in.readNBytes(Integer.parseInt(headers.get("content-length")));
        else if ("chunked".equals(headers.get("transfer-encoding"))) {
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            for (int n; (n = Integer.parseInt(line(in), 16)) > 0; line(in)) b.write(in.readNBytes(n));
            line(in);
            body = b.toByteArray();
        } else body = in.readAllBytes();
        return new Answer(code, headers, new String(body, StandardCharsets.UTF_8));
    }

    private static String line(InputStream in) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        for (int c; (c = in.read()) != '\n'; ) {
            if (c < 0) return b.size() == 0 ? null : b.toString(StandardCharsets.ISO_8859_1);
            if (c != '\r') b.write(c);
        }
        return b.toString(StandardCharsets.ISO_8859_1);
    }

    static Socket connect(int port) throws IOException {
        Socket s = new Socket("127.0.0.1", port);
        s.setSoTimeout(60_000);
        return s;
    }

    /** Sends {@code request} on a new connection and reads one answer. */
    static Answer send(String request) throws IOException {
        return send(request.getBytes(StandardCharsets.ISO_8859_1));
    }

    static Answer send(byte[] request) throws IOException {
        try (Socket s = connect(server.port())) {
            s.getOutputStream().write(request);
            s.getOutputStream().flush();
            return read(s.getInputStream());
        }
    }

    /** A JSON error answer with {@code status}, in ImageServer.error()'s shape, that closes the connection. */
    static void assertJsonError(Answer a, int status, String message) throws IOException {
        assertEquals(status, a.status(), a.body());
        assertEquals("application/json", a.header("Content-Type"), a.headers().toString());
        assertEquals("close", a.header("Connection"), a.headers().toString());
        assertNotNull(a.header("Date"));
        JsonNode body = JSON.readTree(a.body());
        assertTrue(body.get("error").get("message").asText().contains(message), a.body());
        assertEquals(body.get("error").get("message").asText(), body.get("detail").asText(), a.body());
        assertFalse(body.get("detail").asText().matches(".*\\b(java|sun|com)\\.[a-z].*"), "names a class: " + a.body());
    }

    private static void assertNotNull(String s) { assertTrue(s != null && !s.isEmpty(), "missing"); }

    static String post(String path, String body, String extraHeaders) {
        return "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + extraHeaders
                + "Content-Length: " + body.getBytes(StandardCharsets.UTF_8).length + "\r\n\r\n" + body;
    }

    @Test
    void aMalformedRequestLineIs400Json() throws Exception {
        assertJsonError(send("GARBAGE\r\n\r\n"), 400, "malformed request line");
        assertJsonError(send("GET  /health HTTP/1.1\r\nHost: x\r\n\r\n"), 400, "malformed request line");
        assertJsonError(send("G(T /health HTTP/1.1\r\nHost: x\r\n\r\n"), 400, "method is not a token");
        assertJsonError(send("GET health HTTP/1.1\r\nHost: x\r\n\r\n"), 400, "request target");
        assertJsonError(send("GET /hea\u0001lth HTTP/1.1\r\nHost: x\r\n\r\n"), 400, "request target");
        assertJsonError(send("GET /health HTTP/1.1x\r\nHost: x\r\n\r\n"), 400, "HTTP/1.1 or HTTP/1.0");
    }

    @Test
    void otherHttpVersionsAre505Json() throws Exception {
        assertJsonError(send("GET /health HTTP/2.0\r\nHost: x\r\n\r\n"), 505, "HTTP version 2.0 is not supported");
        assertJsonError(send("GET /health HTTP/9\r\nHost: x\r\n\r\n"), 505, "HTTP version 9 is not supported");
        // counted with the handlers' answers (only this test asks for another version)
        String metrics = send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").body();
        assertTrue(metrics.contains("pd_http_responses_total{code=\"505\"} 2\n"), metrics);
    }

    @Test
    void badContentLengthsAre400Json() throws Exception {
        for (String cl : new String[] {"-1", "abc", "+5", "0x10", "1 2", ""}) {
            assertJsonError(send("POST /sdapi/v1/txt2img HTTP/1.1\r\nHost: x\r\nContent-Length: " + cl + "\r\n\r\n{}"), 400,
                    "bad Content-Length");
        }
        assertJsonError(send("POST /sdapi/v1/txt2img HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n{}"),
                400, "different values");
        assertJsonError(send("POST /sdapi/v1/txt2img HTTP/1.1\r\nHost: x\r\nContent-Length: 2, 1\r\n\r\n{}"), 400, "different values");
        assertJsonError(send("POST /sdapi/v1/txt2img HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "2\r\n{}\r\n0\r\n\r\n"), 400, "both Content-Length and Transfer-Encoding");
        // the same value twice is one length
        Answer a = send("POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}");
        assertEquals(405, a.status(), a.body()); // reached the handler
    }

    @Test
    void transferCodingsOtherThanChunkedAre501Json() throws Exception {
        assertJsonError(send("POST /sdapi/v1/txt2img HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"),
                501, "transfer coding 'gzip' is not supported");
        assertJsonError(send("POST /sdapi/v1/txt2img HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n"),
                400, "malformed Transfer-Encoding");
    }

    @Test
    void headerSectionsAndLinesThatAreTooLongAre431And414Json() throws Exception {
        StringBuilder many = new StringBuilder("GET /health HTTP/1.1\r\nHost: x\r\n");
        for (int i = 0; i < 100; i++) many.append("X-H").append(i).append(": y\r\n");
        assertJsonError(send(many + "\r\n"), 431, "more than 100 request headers");
        assertJsonError(send("GET /health HTTP/1.1\r\nHost: x\r\nX-Long: " + "y".repeat(9000) + "\r\n\r\n"), 431,
                "a header line is longer than 8192 bytes");
        StringBuilder big = new StringBuilder("GET /health HTTP/1.1\r\nHost: x\r\n");
        for (int i = 0; i < 10; i++) big.append("X-H").append(i).append(": ").append("y".repeat(8000)).append("\r\n");
        assertJsonError(send(big + "\r\n"), 431, "the request headers are larger than 65536 bytes");
        assertJsonError(send("GET /" + "a".repeat(9000) + " HTTP/1.1\r\nHost: x\r\n\r\n"), 414, "the request line is longer");
    }

    @Test
    void malformedHeadersAre400Json() throws Exception {
        assertJsonError(send("GET /health HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\n\r\n"), 400, "obs-fold");
        assertJsonError(send("GET /health HTTP/1.1\r\nHost: x\r\nX-A : 1\r\n\r\n"), 400, "malformed header name");
        assertJsonError(send("GET /health HTTP/1.1\r\nHost: x\r\nno colon\r\n\r\n"), 400, "malformed header line");
        assertJsonError(send("GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\u0000b\r\n\r\n"), 400, "control character");
        assertJsonError(send("GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n"), 400, "CR that does not end it");
        assertJsonError(send("GET /health HTTP/1.1\r\n\r\n"), 400, "exactly one Host header");
        assertJsonError(send("GET /health HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n"), 400, "exactly one Host header");
    }

    @Test
    void bodiesOverTheLimitAre413JsonDeclaredOrChunked() throws Exception {
        String big = "{\"prompt\": \"" + "x".repeat(70_000) + "\"}";
        Answer a = send(post("/sdapi/v1/txt2img", big, ""));
        assertEquals(413, a.status(), a.body());
        assertTrue(JSON.readTree(a.body()).get("error").get("message").asText().contains("larger than 65536"), a.body());
        a = send("POST /sdapi/v1/txt2img HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                + chunked(big, 5000) + "0\r\n\r\n");
        assertEquals(413, a.status(), a.body());
        assertTrue(JSON.readTree(a.body()).get("error").get("message").asText().contains("larger than 65536"), a.body());
        assertJsonError(send("POST /sdapi/v1/txt2img HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n"),
                413, "larger than this server accepts");
    }

    static String chunked(String body, int size) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < body.length(); i += size) {
            String part = body.substring(i, Math.min(body.length(), i + size));
            sb.append(Integer.toHexString(part.length())).append("\r\n").append(part).append("\r\n");
        }
        return sb.toString();
    }

    @Test
    void aChunkedBodyIsParsed() throws Exception {
        Answer a = send("POST /sdapi/v1/txt2img HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                + chunked(TXT2IMG, 7).replaceFirst("\r\n", ";ext=1\r\n") + "0\r\nX-Trailer: t\r\n\r\n");
        assertEquals(200, a.status(), a.body());
        assertEquals(1, JSON.readTree(a.body()).get("images").size(), a.body());
        // a chunk longer than its size, a size that is not hex, a body cut short: 400 JSON, by the handler
        a = send("POST /sdapi/v1/txt2img HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}}\r\n0\r\n\r\n");
        assertEquals(400, a.status(), a.body());
        assertTrue(a.body().contains("a chunk is longer than its size says"), a.body());
        a = send("POST /sdapi/v1/txt2img HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-2\r\n{}\r\n0\r\n\r\n");
        assertEquals(400, a.status(), a.body());
        assertTrue(a.body().contains("a chunk size must be hex digits"), a.body());
        assertEquals("close", a.header("Connection"), a.headers().toString());
    }

    @Test
    void expect100ContinueIsAnsweredBeforeTheBody() throws Exception {
        try (Socket s = connect(server.port())) {
            OutputStream out = s.getOutputStream();
            String body = TXT2IMG;
            out.write(("POST /sdapi/v1/txt2img HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: " + body.length()
                    + "\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            InputStream in = s.getInputStream();
            assertEquals(100, read(in).status());
            out.write(body.getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            Answer a = read(in);
            assertEquals(200, a.status(), a.body());
            assertEquals(1, JSON.readTree(a.body()).get("images").size());
        }
        // refused without reading the body: no 100, and the connection closes
        Answer a = send("POST /sdapi/v1/txt2img HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 70000\r\n\r\n");
        assertEquals(413, a.status(), a.body());
        assertEquals("close", a.header("Connection"));
    }

    @Test
    void aKeepAliveConnectionServesRequestAfterRequest() throws Exception {
        try (Socket s = connect(server.port())) {
            OutputStream out = s.getOutputStream();
            InputStream in = s.getInputStream();
            out.write(post("/sdapi/v1/txt2img", TXT2IMG, "").getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            Answer a = read(in);
            assertEquals(200, a.status(), a.body());
            assertNull(a.header("Connection"));
            out.write("GET /health HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            a = read(in);
            assertEquals(200, a.status(), a.body());
            assertEquals("ok", JSON.readTree(a.body()).get("status").asText());
            // an error answered by a handler keeps the connection too
            out.write(post("/sdapi/v1/txt2img", "{\"steps\": 0}", "").getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            assertEquals(400, read(in).status());
            out.write("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            a = read(in);
            assertEquals(200, a.status());
            assertEquals("close", a.header("Connection"));
            assertEquals(-1, in.read(), "open after Connection: close");
        }
    }

    @Test
    void pipelinedRequestsAreAnsweredInOrder() throws Exception {
        try (Socket s = connect(server.port())) {
            s.getOutputStream().write((post("/sdapi/v1/txt2img", TXT2IMG, "") + "GET /sdapi/v1/samplers HTTP/1.1\r\nHost: x\r\n\r\n"
                    + "GET /health HTTP/1.1\r\nHost: x\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
            s.getOutputStream().flush();
            InputStream in = s.getInputStream();
            Answer a = read(in);
            assertEquals(200, a.status(), a.body());
            assertTrue(JSON.readTree(a.body()).has("images"), a.body());
            a = read(in);
            assertEquals(200, a.status(), a.body());
            assertTrue(JSON.readTree(a.body()).isArray(), a.body());
            a = read(in);
            assertEquals("ok", JSON.readTree(a.body()).get("status").asText(), a.body());
        }
    }

    @Test
    void bareLineFeedsAndHttp10Work() throws Exception {
        Answer a = send("GET /health HTTP/1.1\nHost: x\n\n");
        assertEquals(200, a.status(), a.body());
        assertEquals("ok", JSON.readTree(a.body()).get("status").asText());
        try (Socket s = connect(server.port())) { // HTTP/1.0 closes unless asked to keep the connection
            s.getOutputStream().write("GET /health HTTP/1.0\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
            a = read(s.getInputStream());
            assertEquals(200, a.status(), a.body());
            assertEquals("close", a.header("Connection"));
            assertEquals(-1, s.getInputStream().read());
        }
        try (Socket s = connect(server.port())) {
            OutputStream out = s.getOutputStream();
            out.write("GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
            assertEquals("keep-alive", read(s.getInputStream()).header("Connection"));
            out.write("GET /nothing HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
            a = read(s.getInputStream());
            assertEquals(404, a.status(), a.body());
            assertEquals("application/json", a.header("Content-Type"));
        }
    }

    /** A client that closes its connection while its generation runs gets it cancelled within about a second. */
    @Test
    void aClientThatHangsUpCancelsItsGeneration() throws Exception {
        String body = "{\"prompt\": \"x\", \"steps\": 150, \"width\": 256, \"height\": 256, \"batch_size\": 4}";
        try (Socket s = connect(server.port())) {
            s.getOutputStream().write(post("/sdapi/v1/txt2img", body, "").getBytes(StandardCharsets.ISO_8859_1));
            s.getOutputStream().flush();
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (engine.running().isEmpty()) {
                assertTrue(System.nanoTime() < deadline, "the request never started");
                Thread.sleep(5);
            }
            Thread.sleep(200); // inside the first UNet step
        }
        long t0 = System.nanoTime();
        while (!engine.running().isEmpty() || engine.queued() > 0) {
            assertTrue(System.nanoTime() - t0 < Duration.ofSeconds(2).toNanos(), "still running 2 s after the client left");
            Thread.sleep(5);
        }
        Answer metrics;
        long until = System.nanoTime() + Duration.ofSeconds(5).toNanos();
        do { // the handler finishes (and counts) just after the engine dropped the request
            metrics = send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        } while (!metrics.body().contains("pd_http_responses_total{code=\"499\"} 1") && System.nanoTime() < until && sleep());
        assertTrue(metrics.body().contains("pd_http_responses_total{code=\"499\"} 1"), metrics.body());
    }

    private static boolean sleep() throws InterruptedException {
        Thread.sleep(20);
        return true;
    }
}
