package dev.panamadiffusion.server;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** RFC 7578 bodies as OpenAI's edits endpoint gets them, byte by byte, and each malformed one as a 400 naming why. */
class MultipartTest {
    private static final String TYPE = "multipart/form-data; boundary=XyZ";

    private static byte[] bytes(String s) { return s.getBytes(StandardCharsets.ISO_8859_1); }

    @Test
    void recognisesFormDataOnly() {
        assertTrue(Multipart.is("multipart/form-data; boundary=a"));
        assertTrue(Multipart.is("Multipart/Form-Data;boundary=a"));
        assertFalse(Multipart.is("multipart/mixed; boundary=a"));
        assertFalse(Multipart.is("application/json"));
        assertFalse(Multipart.is(null));
    }

    @Test
    void partsInOrderWithFileNamesAndRawBytes() {
        byte[] png = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', '-', '-', 'X', 'y', 0, (byte) 0xff};
        byte[] body = concat(bytes("preamble to ignore\r\n--XyZ\r\n"
                + "Content-Disposition: form-data; name=\"prompt\"\r\n\r\n"
                + "a red\r\ncube\r\n--XyZ\r\n"
                + "content-type: image/png\r\nCONTENT-DISPOSITION: form-data; name=\"image\"; filename=\"in.png\"\r\n\r\n"),
                png, bytes("\r\n--XyZ\r\nContent-Disposition: form-data; name=\"n\"\r\n\r\n\r\n--XyZ--\r\n"));
        Multipart m = Multipart.parse(TYPE, body);
        assertEquals(List.of("prompt", "image", "n"), List.copyOf(m.parts().keySet()));
        assertEquals("a red\r\ncube", m.parts().get("prompt").text());
        assertNull(m.parts().get("prompt").filename());
        assertEquals("in.png", m.parts().get("image").filename());
        assertArrayEquals(png, m.parts().get("image").data());
        assertEquals("", m.parts().get("n").text());
    }

    @Test
    void theNameIsContentDispositionsAlone() {
        // another header's name parameter (here Content-Type's) does not name the part
        byte[] body = bytes("--XyZ\r\nContent-Disposition: form-data; name=\"x\"\r\nContent-Type: text/plain; name=\"y\"\r\n\r\n1\r\n--XyZ--");
        assertEquals(List.of("x"), List.copyOf(Multipart.parse(TYPE, body).parts().keySet()));
    }

    @Test
    void quotedBoundaryAndClosingDelimiterAtTheVeryEnd() {
        byte[] body = bytes("--a b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n--a b--");
        assertEquals("1", Multipart.parse("multipart/form-data; charset=utf-8; boundary=\"a b\"", body).parts().get("x").text());
        assertEquals(0, Multipart.parse(TYPE, bytes("--XyZ--")).parts().size());
    }

    @Test
    void malformedBodiesAre400s() {
        String part = "Content-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n";
        assertRefused("application/json", bytes("{}"), "must be multipart/form-data");
        assertRefused("multipart/form-data", bytes("--XyZ--"), "without a boundary");
        assertRefused(TYPE, bytes("no delimiter here"), "without its boundary");
        assertRefused(TYPE, bytes("--XyZ"), "malformed multipart boundary line");
        assertRefused(TYPE, bytes("--XyZ\r"), "malformed multipart boundary line");
        assertRefused(TYPE, bytes("--XyZ-"), "malformed multipart boundary line");
        assertRefused(TYPE, bytes("--XyZx\r\n" + part + "--XyZ--"), "malformed multipart boundary line");
        assertRefused(TYPE, bytes("--XyZ\r\nContent-Disposition: form-data; name=\"x\"\r\n1\r\n--XyZ--"), "blank line");
        assertRefused(TYPE, bytes("--XyZ\r\n" + part), "closing boundary");
        assertRefused(TYPE, bytes("--XyZ\r\n" + part.replace("1\r\n", "1") + "--XyZ--"), "closing boundary");
        assertRefused(TYPE, bytes("--XyZ\r\nContent-Disposition: form-data\r\n\r\n1\r\n--XyZ--"), "without a Content-Disposition name");
        assertRefused(TYPE, bytes("--XyZ\r\nContent-Disposition: form-data; name=\"\"\r\n\r\n1\r\n--XyZ--"), "without a Content-Disposition name");
        assertRefused(TYPE, bytes("--XyZ\r\nX-Other: name=\"x\"\r\n\r\n1\r\n--XyZ--"), "without a Content-Disposition name");
        HttpError twice = assertThrows(HttpError.class, () -> Multipart.parse(TYPE, bytes("--XyZ\r\n" + part + "--XyZ\r\n" + part + "--XyZ--")));
        assertEquals(400, twice.status);
        assertEquals("x", twice.field);
        assertEquals("x is given twice", twice.getMessage());
    }

    @Test
    void indexOfFindsTheFirstWholeMatchFromAnyStart() {
        byte[] hay = bytes("abcabcab");
        assertEquals(0, Multipart.indexOf(hay, bytes("abc"), -5));
        assertEquals(3, Multipart.indexOf(hay, bytes("abc"), 1));
        assertEquals(6, Multipart.indexOf(hay, bytes("ab"), 4));
        assertEquals(-1, Multipart.indexOf(hay, bytes("abc"), 4));
        assertEquals(-1, Multipart.indexOf(hay, bytes("abcabcabc"), 0));
        assertEquals(7, Multipart.indexOf(hay, bytes("b"), 7));
    }

    private static void assertRefused(String type, byte[] body, String why) {
        HttpError e = assertThrows(HttpError.class, () -> Multipart.parse(type, body), why);
        assertEquals(400, e.status);
        assertTrue(e.getMessage().contains(why), e.getMessage());
    }

    private static byte[] concat(byte[]... parts) {
        int n = 0;
        for (byte[] p : parts) n += p.length;
        byte[] out = new byte[n];
        int at = 0;
        for (byte[] p : parts) {
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length;
        }
        return out;
    }
}
