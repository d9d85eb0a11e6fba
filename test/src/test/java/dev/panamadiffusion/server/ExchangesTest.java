package dev.panamadiffusion.server;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link Exchanges}' strict JSON bodies (one value, nothing after it, no duplicate keys: RFC 8259 leaves duplicates
 * to the reader, this server refuses them) and body reads that arrive in pieces, as a socket delivers them.
 */
class ExchangesTest {
    private static HttpError bad(String body) {
        return assertThrows(HttpError.class, () -> Exchanges.parseJson(body.getBytes(StandardCharsets.UTF_8)), body);
    }

    @Test
    void onlyWhitespaceIsAnEmptyBody() {
        for (String body : new String[] {" ", "\r\n\t "}) {
            HttpError e = bad(body);
            assertEquals(400, e.status);
            assertEquals("request body is empty (expected JSON)", e.getMessage());
        }
    }

    @Test
    void dataAfterTheValueAndDuplicateKeysAre400() {
        for (String body : new String[] {"{} {}", "{\"a\": 1} x", "{\"a\": 1}]"}) {
            HttpError e = bad(body);
            assertEquals(400, e.status);
            assertTrue(e.getMessage().startsWith("malformed JSON"), e.getMessage());
        }
        assertEquals("malformed JSON: data after the end of the JSON value (one JSON object is expected)", bad("{} {}").getMessage());
        HttpError dup = bad("{\"steps\": 1, \"steps\": 2}");
        assertEquals(400, dup.status);
        assertTrue(dup.getMessage().startsWith("malformed JSON: ") && dup.getMessage().contains("steps"), dup.getMessage());
        assertEquals(2, Exchanges.parseJson("{\"a\": {\"b\": 1}, \"b\": 2}\n".getBytes(StandardCharsets.UTF_8)).size(),
                "the same key in different objects, and trailing whitespace, are fine");
    }

    /** A body delivered {@code step} bytes per read, as a socket may. */
    private static ServerPartsTest.FakeExchange trickling(byte[] body, int step) {
        InputStream in = new ByteArrayInputStream(body);
        return new ServerPartsTest.FakeExchange("POST", "/x", new InputStream() {
            @Override public int read() throws IOException { return in.read(); }
            @Override public int read(byte[] b, int off, int len) throws IOException {
                return in.read(b, off, Math.min(len, step));
            }
        });
    }

    @Test
    void aBodyInPiecesIsReadWholeAndItsLimitCountsEveryPiece() throws Exception {
        byte[] body = "0123456789abcdefghij".getBytes(StandardCharsets.US_ASCII);
        assertArrayEquals(body, Exchanges.readBody(trickling(body, 3), 20));
        assertArrayEquals(body, Exchanges.readBody(trickling(body, 7), 20));
        HttpError e = assertThrows(HttpError.class, () -> Exchanges.readBody(trickling(body, 3), 19));
        assertEquals(413, e.status);
        assertEquals("request body larger than 19 bytes", e.getMessage());
    }
}
