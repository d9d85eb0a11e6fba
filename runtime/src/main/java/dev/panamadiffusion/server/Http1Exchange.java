package dev.panamadiffusion.server;

import com.sun.net.httpserver.Headers;
import com.sun.net.httpserver.HttpContext;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpPrincipal;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;

/**
 * One request and its answer on an {@link Http1Connection}, with the JDK's {@link HttpExchange} semantics: the request
 * body reads up to its end (its {@code Content-Length}, or the last chunk) and no further; {@link #sendResponseHeaders}
 * takes a length greater than 0 (that many bytes), 0 (chunked: any number, ended by closing the body) or -1 (no body);
 * closing the exchange ends it. The layer sets {@code Date}, {@code Content-Length}/{@code Transfer-Encoding} and,
 * when the connection will not be reused, {@code Connection: close}.
 *
 * <p>The first read of a body a client sent {@code Expect: 100-continue} for sends {@code 100 Continue}. A body that
 * breaks off, is malformed (chunked) or stops arriving throws an {@link HttpError} (400, or 408) out of the read, which
 * the handler answers as any other. Beyond the JDK's API, {@link #onClientGone} tells a handler that waits when its
 * client has closed the connection.
 */
final class Http1Exchange extends HttpExchange {
    private final Http1Connection conn;
    private final Http1Connection.Head head;
    private final Headers responseHeaders = new Headers();
    private final Map<String, Object> attributes = new ConcurrentHashMap<>();
    private final Http1Body body;
    private final CompletableFuture<Void> gone = new CompletableFuture<>();
    /** {@link #gone}, once {@link #goneEarly} is set. */
    private CompletableFuture<Void> seen;
    final boolean expectContinue;
    Http1Context context;
    boolean continueSent;
    private boolean watching, closeAfter, responseDone, exchangeClosed;
    /** The handler failed after its answer had begun: the answer stays incomplete, so that the client sees it cut off. */
    private boolean aborted;
    private int code = -1;
    /** Set just before the answer's last bytes are flushed: a hang-up after it is no early one. */
    private volatile boolean answered, goneEarly;
    private OutputStream bodyOut;
    private InputStream requestIn;
    private OutputStream responseOut;

    private Http1Exchange(Http1Connection conn, Http1Connection.Head head, Http1Body body) {
        this.conn = conn;
        this.head = head;
        this.body = body;
        String expect = head.headers().getFirst("Expect");
        this.expectContinue = !head.http10() && expect != null && expect.equalsIgnoreCase("100-continue");
        this.requestIn = body;
        this.responseOut = responseBody;
    }

    /** The exchange of {@code head} (whose framing headers {@link Http1Connection} has checked). */
    static Http1Exchange of(Http1Connection conn, Http1Connection.Head head) {
        Headers h = head.headers();
        Http1Exchange[] self = new Http1Exchange[1];
        Http1Body body;
        if (h.containsKey("Transfer-Encoding")) {
            body = new Http1Body.Chunked(conn, () -> self[0]);
        } else {
            long length = 0;
            List<String> cl = h.get("Content-Length");
            if (cl != null) {
                try {
                    length = Http1Connection.contentLength(cl);
                } catch (Http1Connection.ProtocolError e) {
                    throw new IllegalStateException("checked before", e);
                }
            }
            body = new Http1Body.Fixed(conn, () -> self[0], length);
        }
        self[0] = new Http1Exchange(conn, head, body);
        return self[0];
    }

    // ---- the JDK's API ----

    @Override public Headers getRequestHeaders() { return head.headers(); }
    @Override public Headers getResponseHeaders() { return responseHeaders; }
    @Override public URI getRequestURI() { return head.uri(); }
    @Override public String getRequestMethod() { return head.method(); }
    @Override public HttpContext getHttpContext() { return context; }
    @Override public InputStream getRequestBody() { return requestIn; }
    @Override public OutputStream getResponseBody() { return responseOut; }
    @Override public int getResponseCode() { return code; }
    @Override public String getProtocol() { return head.protocol(); }
    @Override public Object getAttribute(String name) { return attributes.get(Objects.requireNonNull(name, "null name")); }
    @Override public HttpPrincipal getPrincipal() { return null; }
    @Override public InetSocketAddress getRemoteAddress() { return (InetSocketAddress) conn.socket.getRemoteSocketAddress(); }
    @Override public InetSocketAddress getLocalAddress() { return (InetSocketAddress) conn.socket.getLocalSocketAddress(); }

    @Override
    public void setAttribute(String name, Object value) {
        Objects.requireNonNull(name, "null name");
        if (value == null) attributes.remove(name);
        else attributes.put(name, value);
    }

    @Override
    public void setStreams(InputStream i, OutputStream o) {
        if (i != null) requestIn = i;
        if (o != null) responseOut = o;
    }

    /** Closes the request body, then the response body; without an answer sent, the layer answers 500 and closes. */
    @Override
    public void close() {
        if (exchangeClosed) return;
        exchangeClosed = true;
        try {
            requestIn.close();
        } catch (IOException ignored) {
            // nothing to do
        }
        if (code == -1) return;
        try {
            responseOut.close();
        } catch (IOException e) {
            closeAfter = true;
        }
    }

    @Override
    public void sendResponseHeaders(int rCode, long len) throws IOException {
        if (code != -1) throw new IOException("headers already sent");
        if (rCode < 200 || rCode > 999) throw new IllegalArgumentException("unsupported response code " + rCode);
        boolean noBody = head.method().equals("HEAD") || rCode == 204 || rCode == 304;
        Headers h = responseHeaders;
        h.remove("Content-Length");
        h.remove("Transfer-Encoding");
        closeAfter |= wantsClose();
        if (noBody && head.method().equals("HEAD")) { // what a GET handler writes is dropped
            if (len > 0) h.set("Content-Length", Long.toString(len));
            bodyOut = OutputStream.nullOutputStream();
            responseDone = answered = true;
        } else if (noBody) {
            bodyOut = new FixedOut(0);
        } else if (len > 0) {
            h.set("Content-Length", Long.toString(len));
            bodyOut = new FixedOut(len);
        } else if (len == 0 && head.http10()) {
            closeAfter = true; // the body ends where the connection does
            bodyOut = new Raw();
        } else if (len == 0) {
            h.set("Transfer-Encoding", "chunked");
            bodyOut = new ChunkedOut();
        } else {
            h.set("Content-Length", "0");
            bodyOut = new FixedOut(0);
        }
        if (closeAfter) h.set("Connection", "close");
        else if (head.http10()) h.set("Connection", "keep-alive");
        h.set("Date", Http1Connection.date());
        StringBuilder sb = new StringBuilder("HTTP/1.1 ").append(rCode).append(' ').append(reason(rCode)).append("\r\n");
        for (Map.Entry<String, List<String>> e : h.entrySet()) {
            for (String v : e.getValue()) {
                String value = v == null ? "" : v;
                if (value.indexOf('\r') >= 0 || value.indexOf('\n') >= 0) {
                    throw new IllegalArgumentException("response header " + e.getKey() + " holds a line break");
                }
                sb.append(e.getKey()).append(": ").append(value).append("\r\n");
            }
        }
        sb.append("\r\n");
        code = rCode;
        conn.out.write(sb.toString().getBytes(StandardCharsets.ISO_8859_1));
        if (bodyOut instanceof FixedOut f && f.remaining == 0) f.close();
    }

    // ---- beyond the JDK's API ----

    /**
     * Runs {@code action} (once, on another thread) when the client closes or resets its connection while this
     * exchange runs, so that a handler waiting for slow work can drop it. Works once the request body has been read
     * to its end: false (and nothing is watched) before that, or when the client already sent more (a pipelined
     * request). A client that only half-closes its side counts as gone.
     */
    public synchronized boolean onClientGone(Runnable action) {
        if (!body.done() || exchangeClosed) return false;
        if (!watching) {
            watching = conn.watch(gone);
            if (!watching) return false;
            seen = gone.thenRun(() -> goneEarly = !answered);
        }
        seen.thenRun(action); // after clientGone() knows (a future runs its own dependents last-added first)
        return true;
    }

    /** Whether the client was seen closing its connection before this exchange's answer was complete. */
    public boolean clientGone() { return goneEarly; }

    /** Answers {@code status} with a JSON error, unless an answer was already begun (then the connection closes). */
    void sendError(int status, String message) {
        if (code != -1) {
            closeAfter = aborted = true;
            return;
        }
        byte[] bytes = Http1Connection.errorBody(message);
        responseHeaders.set("Content-Type", "application/json");
        try {
            sendResponseHeaders(status, bytes.length);
            bodyOut.write(bytes);
            bodyOut.close();
        } catch (IOException | RuntimeException e) {
            closeAfter = true;
        }
    }

    /**
     * Ends the exchange after its handler returned: answers 500 if it did not answer, completes the response, and
     * reads what is left of the request body (up to {@link Http1Connection#DRAIN_LIMIT}). An answer whose handler failed
     * after beginning it is not completed (a chunked body gets no last chunk), as the JDK's server leaves it: the
     * connection closes, and the client sees the answer cut off rather than a whole one. Whether the connection can
     * serve another request.
     */
    boolean finish() {
        if (code == -1) sendError(500, "the server sent no answer to this request");
        if (!responseDone && !aborted) {
            try {
                bodyOut.close();
            } catch (IOException | RuntimeException e) {
                closeAfter = true;
            }
        }
        try {
            conn.out.flush();
        } catch (IOException e) {
            return false;
        }
        if (closeAfter || !responseDone || conn.server.stopping()) return false;
        return body.drain(Http1Connection.DRAIN_LIMIT);
    }

    /** Whether the connection must close after this answer (asked for, HTTP/1.0, stopping, or a body left unread). */
    private boolean wantsClose() {
        List<String> connection = Http1Connection.tokens(head.headers().getOrDefault("Connection", List.of()));
        if (connection.contains("close")) return true;
        if (head.http10() && !connection.contains("keep-alive")) return true;
        String ours = responseHeaders.getFirst("Connection");
        if (ours != null && ours.equalsIgnoreCase("close")) return true;
        if (conn.server.stopping() || body.broken) return true;
        if (!body.done() && expectContinue && !continueSent) return true; // the client may or may not send it now
        return body instanceof Http1Body.Fixed f && f.remaining > Http1Connection.DRAIN_LIMIT;
    }

    /** Sends {@code 100 Continue} if the client asked for it and no answer was begun (the handler reads the body). */
    void continueIfExpected() throws IOException {
        if (!expectContinue || continueSent || code != -1) return;
        continueSent = true;
        conn.out.write("HTTP/1.1 100 Continue\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
        conn.out.flush();
    }

    /** The reason phrase of {@code code}. */
    static String reason(int code) {
        return switch (code) {
            case 100 -> "Continue";
            case 200 -> "OK";
            case 201 -> "Created";
            case 204 -> "No Content";
            case 304 -> "Not Modified";
            case 400 -> "Bad Request";
            case 404 -> "Not Found";
            case 405 -> "Method Not Allowed";
            case 408 -> "Request Timeout";
            case 409 -> "Conflict";
            case 413 -> "Content Too Large";
            case 414 -> "URI Too Long";
            case 429 -> "Too Many Requests";
            case 431 -> "Request Header Fields Too Large";
            case 500 -> "Internal Server Error";
            case 501 -> "Not Implemented";
            case 503 -> "Service Unavailable";
            case 504 -> "Gateway Timeout";
            case 505 -> "HTTP Version Not Supported";
            default -> code < 300 ? "OK" : code < 400 ? "Redirection" : code < 500 ? "Client Error" : "Server Error";
        };
    }

    // ---- the response body ----

    /** What a handler writes to: the stream {@link #sendResponseHeaders} chose. */
    private final OutputStream responseBody = new OutputStream() {
        @Override
        public void write(int b) throws IOException {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            if (bodyOut == null) throw new IOException("response headers not sent yet");
            bodyOut.write(b, off, len);
        }

        @Override
        public void flush() throws IOException {
            if (bodyOut != null) bodyOut.flush();
        }

        @Override
        public void close() throws IOException {
            if (bodyOut != null) bodyOut.close();
        }
    };

    /** A body of a fixed length: more is refused; closed with less, the connection closes after it. */
    private final class FixedOut extends OutputStream {
        long remaining;
        private boolean closed;

        FixedOut(long length) { remaining = length; }

        @Override
        public void write(int b) throws IOException {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            Objects.checkFromIndexSize(off, len, b.length);
            if (closed) throw new IOException("stream is closed");
            if (len > remaining) throw new IOException("too many bytes to write to stream");
            if (len == remaining) answered = true; // before the last bytes can reach the client
            conn.out.write(b, off, len);
            remaining -= len;
        }

        @Override
        public void flush() throws IOException {
            if (!closed) conn.out.flush();
        }

        @Override
        public void close() throws IOException {
            if (closed) return;
            closed = true;
            answered = remaining == 0;
            conn.out.flush();
            if (remaining > 0) {
                closeAfter = true;
                throw new IOException("insufficient bytes written to stream");
            }
            responseDone = true;
        }
    }

    /** A chunked body: each buffer full is a chunk; closing writes the last chunk. */
    private final class ChunkedOut extends OutputStream {
        private final byte[] chunk = new byte[8192];
        private int n;
        private boolean closed;

        @Override
        public void write(int b) throws IOException {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            Objects.checkFromIndexSize(off, len, b.length);
            if (closed) throw new IOException("stream is closed");
            while (len > 0) {
                int k = Math.min(len, chunk.length - n);
                System.arraycopy(b, off, chunk, n, k);
                n += k;
                off += k;
                len -= k;
                if (n == chunk.length) emit();
            }
        }

        private void emit() throws IOException {
            if (n == 0) return;
            conn.out.write((Integer.toHexString(n) + "\r\n").getBytes(StandardCharsets.ISO_8859_1));
            conn.out.write(chunk, 0, n);
            conn.out.write(CRLF);
            n = 0;
        }

        @Override
        public void flush() throws IOException {
            if (closed) return;
            emit();
            conn.out.flush();
        }

        @Override
        public void close() throws IOException {
            if (closed) return;
            closed = true;
            emit();
            conn.out.write("0\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
            answered = true;
            conn.out.flush();
            responseDone = true;
        }
    }

    private static final byte[] CRLF = {'\r', '\n'};

    /** An HTTP/1.0 body of unknown length: it ends where the connection does. */
    private final class Raw extends OutputStream {
        private boolean closed;

        @Override
        public void write(int b) throws IOException {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            if (closed) throw new IOException("stream is closed");
            conn.out.write(b, off, len);
        }

        @Override
        public void flush() throws IOException {
            if (!closed) conn.out.flush();
        }

        @Override
        public void close() throws IOException {
            if (closed) return;
            closed = true;
            answered = true;
            conn.out.flush();
            responseDone = true;
        }
    }
}
