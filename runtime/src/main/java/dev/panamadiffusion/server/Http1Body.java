package dev.panamadiffusion.server;

import com.sun.net.httpserver.Headers;

import java.io.IOException;
import java.io.InputStream;
import java.net.SocketTimeoutException;
import java.util.Objects;
import java.util.function.Supplier;

/**
 * A request body of an {@link Http1Exchange}, read from its {@link Http1Connection} up to its end and no further:
 * {@code Content-Length} bytes ({@link Fixed}; none without one) or {@code Transfer-Encoding: chunked} ({@link Chunked},
 * parsed strictly: hex sizes of at most 15 digits, each chunk ended by its CRLF, extensions and trailers read and
 * dropped within the header limits). The first read sends {@code 100 Continue} when the client expects it. A body that
 * ends early or is malformed throws a 400 {@link HttpError}, one that stops arriving for the server's head timeout a
 * 408; the body is then broken and the connection closes after the answer.
 */
abstract sealed class Http1Body extends InputStream permits Http1Body.Fixed, Http1Body.Chunked {
    final Http1Connection conn;
    private final Supplier<Http1Exchange> exchange;
    boolean closed, broken;

    Http1Body(Http1Connection conn, Supplier<Http1Exchange> exchange) {
        this.conn = conn;
        this.exchange = exchange;
    }

    /** Reads body bytes (the end not yet reached); -1 at the end. */
    abstract int readBody(byte[] b, int off, int len) throws IOException;

    /** Whether the body was read to its end. */
    abstract boolean done();

    @Override
    public int read() throws IOException {
        byte[] one = new byte[1];
        int n = read(one, 0, 1);
        return n < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
        Objects.checkFromIndexSize(off, len, b.length);
        if (closed) throw new IOException("stream is closed");
        if (broken) throw new IOException("the request body could not be read");
        if (len == 0) return 0;
        if (done()) return -1;
        exchange.get().continueIfExpected();
        try {
            return readBody(b, off, len);
        } catch (SocketTimeoutException e) {
            broken = true;
            throw new HttpError(408, null, "the request body stopped arriving (nothing for "
                    + Http1Connection.seconds(conn.server.headTimeout) + ")");
        } catch (IOException | RuntimeException e) {
            broken = true;
            throw e;
        }
    }

    @Override
    public void close() { closed = true; }

    /** Reads and drops the rest, at most {@code limit} bytes; whether the end was reached. */
    boolean drain(long limit) {
        if (broken) return false;
        Http1Exchange ex = exchange.get();
        if (!done() && ex.expectContinue && !ex.continueSent) return false;
        byte[] scratch = new byte[8192];
        long dropped = 0;
        try {
            while (!done()) {
                int n = readBody(scratch, 0, scratch.length);
                if (n < 0) break;
                dropped += n;
                if (dropped > limit) return false;
            }
            return true;
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /** A body of {@code Content-Length} bytes (none without one). */
    static final class Fixed extends Http1Body {
        private final long length;
        long remaining;

        Fixed(Http1Connection conn, Supplier<Http1Exchange> exchange, long length) {
            super(conn, exchange);
            this.length = length;
            this.remaining = length;
        }

        @Override
        int readBody(byte[] b, int off, int len) throws IOException {
            int n = conn.readSome(b, off, (int) Math.min(len, remaining));
            if (n < 0) {
                broken = true;
                throw new HttpError(400, null, "the request body ended after " + (length - remaining) + " of its "
                        + length + " bytes (Content-Length)");
            }
            remaining -= n;
            return n;
        }

        @Override
        boolean done() { return remaining == 0; }
    }

    /** A {@code Transfer-Encoding: chunked} body, parsed strictly; its trailers are read and dropped. */
    static final class Chunked extends Http1Body {
        private long left;
        private boolean inChunk, eof;

        Chunked(Http1Connection conn, Supplier<Http1Exchange> exchange) {
            super(conn, exchange);
        }

        @Override
        int readBody(byte[] b, int off, int len) throws IOException {
            if (eof) return -1;
            if (left == 0) {
                if (inChunk) {
                    String end = conn.readBodyLine(Http1Connection.MAX_LINE, "a chunk's end");
                    if (!end.isEmpty()) throw new HttpError(400, null, "malformed chunked body: a chunk is longer than its size says");
                    inChunk = false;
                }
                long size = size(conn.readBodyLine(Http1Connection.MAX_LINE, "a chunk size line"));
                if (size == 0) {
                    trailers();
                    eof = true;
                    return -1;
                }
                left = size;
                inChunk = true;
            }
            int n = conn.readSome(b, off, (int) Math.min(len, left));
            if (n < 0) throw new HttpError(400, null, "the connection ended inside the request body");
            left -= n;
            return n;
        }

        /** A chunk size line's size: 1 to 15 hex digits, then optional whitespace and {@code ;extensions}. */
        private static long size(String line) {
            int semi = line.indexOf(';');
            String hex = semi < 0 ? line : line.substring(0, semi);
            int end = hex.length();
            while (end > 0 && (hex.charAt(end - 1) == ' ' || hex.charAt(end - 1) == '\t')) end--;
            hex = hex.substring(0, end);
            boolean ok = !hex.isEmpty() && hex.length() <= 15 && hex.chars().allMatch(c -> Character.digit(c, 16) >= 0 && c < 128);
            if (!ok) {
                if (hex.length() > 15 && hex.chars().allMatch(c -> Character.digit(c, 16) >= 0 && c < 128)) {
                    throw new HttpError(413, null, "request body larger than this server accepts (a chunk of "
                            + hex.length() + " hex digits)");
                }
                throw new HttpError(400, null, "malformed chunked body: a chunk size must be hex digits");
            }
            for (int i = semi < 0 ? line.length() : semi; i < line.length(); i++) {
                char c = line.charAt(i);
                if (c < 0x20 && c != '\t' || c == 0x7f) throw new HttpError(400, null, "malformed chunked body: a control character in a chunk extension");
            }
            return Long.parseLong(hex, 16);
        }

        private void trailers() throws IOException {
            Headers dropped = new Headers();
            int count = 0, total = 0;
            while (true) {
                String line = conn.readBodyLine(Http1Connection.MAX_LINE, "a trailer line");
                if (line.isEmpty()) return;
                total += line.length() + 2;
                if (++count > Http1Connection.MAX_HEADERS || total > Http1Connection.MAX_HEAD) {
                    throw new HttpError(431, null, "the request's trailer section is too large");
                }
                try {
                    Http1Connection.header(dropped, line, "trailer");
                } catch (Http1Connection.ProtocolError e) {
                    throw new HttpError(e.status, null, e.getMessage());
                }
            }
        }

        @Override
        boolean done() { return eof; }
    }
}
