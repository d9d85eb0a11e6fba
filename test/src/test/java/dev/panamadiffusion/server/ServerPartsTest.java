package dev.panamadiffusion.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.Headers;
import com.sun.net.httpserver.HttpContext;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpPrincipal;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The server's parts without a socket or a model: strict JSON field reads at the edges of their ranges, the field a
 * problem names, bounded body reads and answers, on an in-memory {@link HttpExchange}.
 */
class ServerPartsTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static JsonFields fields(String json) throws IOException { return new JsonFields(JSON.readTree(json)); }

    private static HttpError bad(org.junit.jupiter.api.function.Executable e) { return assertThrows(HttpError.class, e); }

    @Test
    void bodyMustBeAnObject() throws Exception {
        for (String body : new String[] {"[]", "3", "\"x\"", "null"}) {
            HttpError e = bad(() -> fields(body));
            assertEquals(400, e.status);
            assertNull(e.field);
            assertEquals("request body must be a JSON object", e.getMessage());
        }
        bad(() -> new JsonFields(null));
    }

    @Test
    void stringsAndUnknownFields() throws Exception {
        JsonFields f = fields("{\"a\": \"x\", \"b\": 3, \"c\": null}");
        assertEquals("x", f.string("a", "d", true));
        assertEquals("d", f.string("c", "d", false));
        assertEquals("d", f.string("zz", "d", false));
        HttpError e = bad(() -> f.string("zz", "d", true));
        assertEquals("zz is required", e.getMessage());
        assertEquals("zz", e.field);
        assertEquals("b must be a string", bad(() -> f.string("b", "d", false)).getMessage());
        f.rejectUnknown(Set.of("a", "b", "c"));
        e = bad(() -> f.rejectUnknown(Set.of("a", "c")));
        assertEquals("b is not a known field", e.getMessage());
        assertEquals("b", e.field);
        assertNull(f.node("c"));
        assertNull(f.node("zz"));
        assertEquals(3, f.node("b").asInt());
    }

    @Test
    void aSeedOfMinusOneOrNoneIsRandom() throws Exception {
        assertEquals(dev.panamadiffusion.pipeline.RequestLimits.RANDOM_SEED, fields("{\"seed\": -1}").seed("seed"));
        assertEquals(dev.panamadiffusion.pipeline.RequestLimits.RANDOM_SEED, fields("{}").seed("seed"));
        assertEquals(0L, fields("{\"seed\": 0}").seed("seed"));
        assertEquals(-2L, fields("{\"seed\": 18446744073709551614}").seed("seed"), "2^64 - 2 in a long's bits");
    }

    @Test
    void httpErrors() {
        HttpError e = HttpError.badField("steps", "steps must be positive");
        assertEquals(400, e.status);
        assertEquals("steps", e.field);
        assertEquals("steps must be positive", e.getMessage());
    }

    /** An exchange in memory: a request method, path, headers and body; records what is answered. */
    static final class FakeExchange extends HttpExchange {
        final String method;
        final URI uri;
        final Headers requestHeaders = new Headers(), responseHeaders = new Headers();
        final InputStream body;
        final ByteArrayOutputStream response = new ByteArrayOutputStream();
        int status = -1;
        long length = -2;
        boolean closed;

        FakeExchange(String method, String path, byte[] body) {
            this(method, path, new ByteArrayInputStream(body));
        }

        FakeExchange(String method, String path, InputStream body) {
            this.method = method;
            this.uri = URI.create(path);
            this.body = body;
        }

        String responseText() { return response.toString(StandardCharsets.UTF_8); }

        @Override public Headers getRequestHeaders() { return requestHeaders; }
        @Override public Headers getResponseHeaders() { return responseHeaders; }
        @Override public URI getRequestURI() { return uri; }
        @Override public String getRequestMethod() { return method; }
        @Override public HttpContext getHttpContext() { return null; }
        @Override public void close() { closed = true; }
        @Override public InputStream getRequestBody() { return body; }
        @Override public OutputStream getResponseBody() { return response; }
        @Override public void sendResponseHeaders(int rCode, long responseLength) { status = rCode; length = responseLength; }
        @Override public InetSocketAddress getRemoteAddress() { return null; }
        @Override public int getResponseCode() { return status; }
        @Override public InetSocketAddress getLocalAddress() { return null; }
        @Override public String getProtocol() { return "HTTP/1.1"; }
        @Override public Object getAttribute(String name) { return null; }
        @Override public void setAttribute(String name, Object value) {}
        @Override public void setStreams(InputStream i, OutputStream o) {}
        @Override public HttpPrincipal getPrincipal() { return null; }
    }

    private static FakeExchange post(String body) { return new FakeExchange("POST", "/x", body.getBytes(StandardCharsets.UTF_8)); }

    @Test
    void methodsAreCheckedIgnoringCase() {
        Exchanges.requireMethod(new FakeExchange("post", "/a", new byte[0]), "POST");
        HttpError e = bad(() -> Exchanges.requireMethod(new FakeExchange("GET", "/sdapi/v1/txt2img?x=1", new byte[0]), "POST"));
        assertEquals(405, e.status);
        assertEquals("use POST for /sdapi/v1/txt2img", e.getMessage());
    }

    @Test
    void bodiesAreReadUpToTheirLimit() throws Exception {
        JsonNode n = Exchanges.readJson(post("{\"a\": 1}"), 8);
        assertEquals(1, n.get("a").asInt());
        assertEquals(413, bad(() -> Exchanges.readJson(post("{\"a\": 12}"), 8)).status, "9 bytes over a limit of 8");
        FakeExchange declared = post("{}");
        declared.requestHeaders.set("Content-Length", " 9 ");
        HttpError e = bad(() -> Exchanges.readJson(declared, 8));
        assertEquals(413, e.status);
        assertEquals("request body larger than 8 bytes", e.getMessage());
        FakeExchange exact = post("{\"a\": 1}");
        exact.requestHeaders.set("Content-Length", "8");
        assertEquals(1, Exchanges.readJson(exact, 8).get("a").asInt());
        FakeExchange garbage = post("{}");
        garbage.requestHeaders.set("Content-Length", "eight");
        assertEquals("bad Content-Length", bad(() -> Exchanges.readJson(garbage, 8)).getMessage());
        e = bad(() -> Exchanges.readJson(post(""), 8));
        assertEquals(400, e.status);
        assertEquals("request body is empty (expected JSON)", e.getMessage());
        e = bad(() -> Exchanges.readJson(post("{\"a\":"), 64));
        assertEquals(400, e.status);
        assertTrue(e.getMessage().startsWith("malformed JSON: "), e.getMessage());
        // a body longer than one 8 KiB read, within the limit
        String big = "{\"a\": \"" + "x".repeat(20_000) + "\"}";
        assertEquals(20_000, Exchanges.readJson(post(big), 30_000).get("a").asText().length());
        assertEquals(413, bad(() -> Exchanges.readJson(post(big), 10_000)).status);
    }

    @Test
    void answersCarryTheirTypeAndLength() throws Exception {
        FakeExchange ex = post("");
        Exchanges.sendJson(ex, 201, Map.of("k", "v"));
        assertEquals(201, ex.status);
        assertEquals("{\"k\":\"v\"}", ex.responseText());
        assertEquals(ex.responseText().length(), ex.length);
        assertEquals("application/json", ex.responseHeaders.getFirst("Content-Type"));
        assertTrue(ex.closed);
        FakeExchange empty = post("");
        Exchanges.sendText(empty, 204, "text/plain", "");
        assertEquals(-1, empty.length, "no body: length -1");
        assertEquals("", empty.responseText());
        assertTrue(empty.closed);
        FakeExchange text = post("");
        Exchanges.sendText(text, 200, "text/plain; charset=utf-8", "h\u00e9");
        assertEquals(3, text.length, "UTF-8 bytes, not chars");
        assertEquals("h\u00e9", text.responseText());
        assertFalse(text.responseHeaders.isEmpty());
    }
}
