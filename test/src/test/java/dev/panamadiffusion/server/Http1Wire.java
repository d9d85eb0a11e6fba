package dev.panamadiffusion.server;

import com.sun.net.httpserver.HttpExchange;
import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * What the tests of {@link Http1Server}'s framing share: a bound server with short timeouts, and a raw client
 * connection that reads each answer exactly as it was sent (status line, header lines in order, body by the answer's
 * own framing), so that a test sees every byte the layer writes.
 */
final class Http1Wire {
    private Http1Wire() {}

    /** A server bound to a free local port, not yet started. */
    static Http1Server server(Duration head, Duration idle) throws IOException {
        Http1Server s = new Http1Server(head, idle);
        s.bind(new InetSocketAddress("127.0.0.1", 0), 16);
        return s;
    }

    /** Answers {@code status} with a plain-text body of a fixed length. */
    static void text(HttpExchange ex, int status, String body) throws IOException {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "text/plain");
        ex.sendResponseHeaders(status, b.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(b);
        }
    }

    static byte[] bytes(String s) { return s.getBytes(StandardCharsets.ISO_8859_1); }

    /** One answer as sent. */
    record Reply(String statusLine, List<String> headerLines, byte[] body) {
        int status() { return Integer.parseInt(statusLine.split(" ")[1]); }

        /** The reason phrase: what follows the status code. */
        String reason() { return statusLine.substring("HTTP/1.1 200 ".length()); }

        /** The first value of header {@code name} (any case), or null. */
        String header(String name) {
            List<String> all = headers(name);
            return all.isEmpty() ? null : all.getFirst();
        }

        List<String> headers(String name) {
            List<String> values = new ArrayList<>();
            for (String h : headerLines) {
                int colon = h.indexOf(':');
                if (h.substring(0, colon).equalsIgnoreCase(name)) values.add(h.substring(colon + 1).strip());
            }
            return values;
        }

        String text() { return new String(body, StandardCharsets.UTF_8); }
    }

    /** A client connection that sends bytes as given. */
    static final class Conn implements AutoCloseable {
        final Socket socket;
        final InputStream in;
        final OutputStream out;

        Conn(int port) throws IOException {
            socket = new Socket("127.0.0.1", port);
            socket.setSoTimeout(20_000);
            in = new BufferedInputStream(socket.getInputStream());
            out = socket.getOutputStream();
        }

        Conn send(String request) throws IOException { return send(bytes(request)); }

        Conn send(byte[] request) throws IOException {
            out.write(request);
            out.flush();
            return this;
        }

        Reply read() throws IOException { return read(false); }

        /** The next answer; that to a HEAD request ({@code head}) has no body whatever its headers say. */
        Reply read(boolean head) throws IOException {
            String status = line();
            if (status == null) throw new EOFException("no answer");
            assertTrue(status.matches("HTTP/1\\.1 \\d{3} .+"), status);
            List<String> headers = new ArrayList<>();
            for (String h; !(h = line()).isEmpty(); ) headers.add(h);
            Reply r = new Reply(status, headers, new byte[0]);
            int code = r.status();
            String length = r.header("Content-Length");
            byte[] body;
            if (code < 200 || code == 204 || code == 304 || head) body = new byte[0];
            else if (length != null) body = in.readNBytes(Integer.parseInt(length));
            else if ("chunked".equals(r.header("Transfer-Encoding"))) body = chunked();
            else body = in.readAllBytes();
            return new Reply(status, headers, body);
        }

        private byte[] chunked() throws IOException {
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            for (int n; (n = Integer.parseInt(line(), 16)) > 0; ) {
                b.write(in.readNBytes(n));
                assertEquals("", line(), "a chunk longer than its size");
            }
            assertEquals("", line(), "no trailers expected");
            return b.toByteArray();
        }

        /** One CRLF-ended line (the layer never ends one with a bare LF); null at the end of the stream. */
        String line() throws IOException {
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            for (int c; (c = in.read()) != '\n'; ) {
                if (c < 0) {
                    if (b.size() == 0) return null;
                    throw new EOFException("the stream ended inside a line: " + b.toString(StandardCharsets.ISO_8859_1));
                }
                b.write(c);
            }
            String s = b.toString(StandardCharsets.ISO_8859_1);
            assertTrue(s.endsWith("\r"), "a line not ended by CRLF: " + s);
            return s.substring(0, s.length() - 1);
        }

        /** Asserts that the server closes the connection within {@code within}, sending nothing more. */
        void assertClosed(Duration within) throws IOException {
            assertTrue(closedWithin(within), "the connection stayed open for " + within);
        }

        /** Whether the next read ends the stream (or is reset) within {@code within}; a byte instead fails the test. */
        boolean closedWithin(Duration within) throws IOException {
            int old = socket.getSoTimeout();
            socket.setSoTimeout((int) within.toMillis());
            try {
                int c = in.read();
                if (c >= 0) fail("more bytes after the answer: " + (char) c + new String(in.readNBytes(in.available()), StandardCharsets.ISO_8859_1));
                return true;
            } catch (SocketTimeoutException e) {
                return false;
            } catch (SocketException e) { // reset: closed as well
                return true;
            } finally {
                if (!socket.isClosed()) socket.setSoTimeout(old);
            }
        }

        @Override
        public void close() throws IOException { socket.close(); }
    }
}
