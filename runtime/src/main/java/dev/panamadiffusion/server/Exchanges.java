package dev.panamadiffusion.server;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

/** Reading bounded request bodies and writing JSON/text answers. */
final class Exchanges {
    static final ObjectMapper JSON = new ObjectMapper();
    /** Request bodies: one JSON value and nothing after it, no duplicate keys. */
    private static final ObjectMapper STRICT = JsonMapper.builder()
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .build();

    private Exchanges() {}

    static void requireMethod(HttpExchange ex, String method) {
        if (!ex.getRequestMethod().equalsIgnoreCase(method)) {
            throw new HttpError(405, null, "use " + method + " for " + ex.getRequestURI().getPath());
        }
    }

    /** The request body as JSON; larger than {@code limit} bytes is a 413, malformed JSON a 400. */
    static JsonNode readJson(HttpExchange ex, int limit) throws IOException {
        return parseJson(readBody(ex, limit));
    }

    /** The request body's bytes; larger than {@code limit} bytes is a 413. */
    static byte[] readBody(HttpExchange ex, int limit) throws IOException {
        String len = ex.getRequestHeaders().getFirst("Content-Length");
        if (len != null) {
            try {
                if (Long.parseLong(len.trim()) > limit) throw new HttpError(413, null, "request body larger than " + limit + " bytes");
            } catch (NumberFormatException e) {
                throw new HttpError(400, null, "bad Content-Length");
            }
        }
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        try (InputStream in = ex.getRequestBody()) {
            byte[] chunk = new byte[8192];
            int n;
            while ((n = in.read(chunk)) > 0) {
                if (buf.size() + n > limit) throw new HttpError(413, null, "request body larger than " + limit + " bytes");
                buf.write(chunk, 0, n);
            }
        }
        return buf.toByteArray();
    }

    /**
     * A request body as JSON, strictly: one value with nothing but whitespace after it, no duplicate keys. Anything else
     * is a 400.
     */
    static JsonNode parseJson(byte[] body) {
        if (body.length == 0) throw new HttpError(400, null, "request body is empty (expected JSON)");
        try {
            JsonNode n = STRICT.readTree(body);
            if (n == null || n.isMissingNode()) throw new HttpError(400, null, "request body is empty (expected JSON)");
            return n;
        } catch (MismatchedInputException e) {
            // trailing data: Jackson's message names its own classes and features
            throw new HttpError(400, null, "malformed JSON: data after the end of the JSON value (one JSON object is expected)");
        } catch (JsonProcessingException e) {
            throw new HttpError(400, null, "malformed JSON: " + e.getOriginalMessage());
        } catch (IOException e) {
            throw new HttpError(400, null, "unreadable JSON: " + e.getMessage());
        }
    }

    static void sendJson(HttpExchange ex, int status, Object body) throws IOException {
        send(ex, status, "application/json", JSON.writeValueAsBytes(body));
    }

    static void sendText(HttpExchange ex, int status, String contentType, String body) throws IOException {
        send(ex, status, contentType, body.getBytes(StandardCharsets.UTF_8));
    }

    static void send(HttpExchange ex, int status, String contentType, byte[] bytes) throws IOException {
        ex.getResponseHeaders().set("Content-Type", contentType);
        ex.sendResponseHeaders(status, bytes.length == 0 ? -1 : bytes.length);
        if (bytes.length > 0) {
            try (OutputStream out = ex.getResponseBody()) {
                out.write(bytes);
            }
        }
        ex.close();
    }
}
