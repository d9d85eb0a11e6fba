package dev.panamadiffusion.server;

import com.sun.net.httpserver.Filter;
import com.sun.net.httpserver.Headers;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.ReentrantLock;
import java.util.regex.Pattern;

/**
 * One client connection of an {@link Http1Server}: reads its requests strictly (RFC 9112), runs each one's handler
 * on this connection's thread, and keeps the connection for the next request while that is safe.
 *
 * <p>The request line ({@code METHOD SP target SP HTTP/1.x}, CRLF or a bare LF) is at most {@value #MAX_LINE}
 * bytes (else 414); each header line at most {@value #MAX_LINE} bytes, all of them at most {@value #MAX_HEAD} bytes
 * and {@value #MAX_HEADERS} lines (else 431). A header name must be a token followed directly by its colon; folded
 * lines, control characters, a bad or disagreeing {@code Content-Length}, {@code Content-Length} with
 * {@code Transfer-Encoding}, and a missing or repeated {@code Host} (HTTP/1.1) are 400s; a transfer coding other
 * than {@code chunked} is a 501, an HTTP version other than 1.x a 505, a head that takes longer than the server's
 * head timeout a 408. Each such answer is JSON, says {@code Connection: close}, and the connection then closes
 * (after reading what the client still sends for a moment, so that it sees the answer rather than a reset).
 */
final class Http1Connection implements Runnable {
    /** Longest request line, and longest header line. */
    static final int MAX_LINE = 8 * 1024;
    /** Largest header (or trailer) section. */
    static final int MAX_HEAD = 64 * 1024;
    /** Most header (or trailer) lines. */
    static final int MAX_HEADERS = 100;
    /** Most body bytes read and dropped after a handler left them unread, before the connection is closed instead. */
    static final long DRAIN_LIMIT = 1 << 20;

    private static final Pattern TOKEN = Pattern.compile("[!#$%&'*+\\-.^_`|~0-9A-Za-z]+");
    private static final Pattern HTTP_1 = Pattern.compile("HTTP/1\\.[0-9]");
    private static final Pattern HTTP_ANY = Pattern.compile("HTTP/[0-9]+(\\.[0-9]+)?");
    private static final DateTimeFormatter DATE = DateTimeFormatter.ofPattern("EEE, dd MMM yyyy HH:mm:ss 'GMT'", Locale.US);

    final Http1Server server;
    final Socket socket;
    private final InputStream in;
    final OutputStream out;
    private final byte[] buf = new byte[16 * 1024];
    private int pos, lim;
    /** A read the hang-up watcher started: its bytes (none at the end of the stream) come before any others. */
    private volatile CompletableFuture<byte[]> readAhead;
    private final ReentrantLock lock = new ReentrantLock();
    private boolean active, closed;

    Http1Connection(Http1Server server, Socket socket) {
        this.server = server;
        this.socket = socket;
        InputStream i = null;
        OutputStream o = null;
        try {
            socket.setTcpNoDelay(true);
            i = socket.getInputStream();
            o = new BufferedOutputStream(socket.getOutputStream(), 16 * 1024);
        } catch (IOException e) {
            close();
        }
        this.in = i;
        this.out = o;
    }

    /** An answer the protocol layer gives itself: its status and one line for the client. */
    static final class ProtocolError extends Exception {
        final int status;

        ProtocolError(int status, String message) {
            super(message, null, false, false);
            this.status = status;
        }
    }

    /** A parsed request head. */
    record Head(String method, URI uri, String protocol, Headers headers, boolean http10) {}

    @Override
    public void run() {
        try {
            if (in == null) return;
            boolean first = true;
            while (!server.stopping()) {
                Head head;
                try {
                    head = readHead(first);
                } catch (ProtocolError e) {
                    writeError(e.status, e.getMessage());
                    lingeringClose();
                    return;
                }
                if (head == null || !begin()) return;
                first = false;
                boolean keep;
                try {
                    keep = serve(head);
                } finally {
                    end();
                }
                if (!keep) {
                    lingeringClose();
                    return;
                }
            }
        } catch (IOException | RuntimeException e) {
            // the client went away or broke the protocol mid-answer: nothing more can be said to it
        } finally {
            close();
            server.closed(this);
        }
    }

    /** Runs the handler of {@code head}'s context; whether the connection can serve another request. */
    private boolean serve(Head head) throws IOException {
        Http1Exchange ex = Http1Exchange.of(this, head);
        String path = head.uri().getPath() != null ? head.uri().getPath() : head.uri().toString();
        Http1Context context = server.find(path);
        ex.context = context;
        if (context == null || context.getHandler() == null) {
            layerError(ex, 404, "no such endpoint: " + path);
        } else {
            try {
                new Filter.Chain(context.getFilters(), context.getHandler()).doFilter(ex);
            } catch (HttpError e) {
                layerError(ex, e.status, e.getMessage());
            } catch (IOException | RuntimeException e) {
                layerError(ex, 500, "the server failed while answering this request");
            }
        }
        if (ex.getResponseCode() == -1) layerError(ex, 500, "the server sent no answer to this request");
        return ex.finish();
    }

    private void layerError(Http1Exchange ex, int status, String message) {
        if (ex.getResponseCode() != -1) {
            ex.sendError(status, message); // too late to answer: closes the connection
            return;
        }
        server.layerAnswered(status);
        ex.sendError(status, message);
    }

    private boolean begin() {
        lock.lock();
        try {
            if (closed) return false;
            active = true;
            return true;
        } finally {
            lock.unlock();
        }
    }

    private void end() {
        lock.lock();
        try {
            active = false;
        } finally {
            lock.unlock();
        }
    }

    /** Closes this connection unless an exchange is in progress on it; whether it is (now) closed. */
    boolean closeIfIdle() {
        lock.lock();
        try {
            if (active) return false;
        } finally {
            lock.unlock();
        }
        close();
        return true;
    }

    void close() {
        lock.lock();
        try {
            closed = true;
        } finally {
            lock.unlock();
        }
        try {
            socket.close();
        } catch (IOException ignored) {
            // closed anyway
        }
    }

    /**
     * Ends the connection after an answer the client may not have finished sending its request for: stops writing,
     * then reads and drops what still comes (at most 256 KiB, for at most a second) so that closing does not reset
     * the connection before the client has read the answer.
     */
    private void lingeringClose() {
        try {
            out.flush();
            socket.shutdownOutput();
            long until = server.nanoTime() + TimeUnit.SECONDS.toNanos(1);
            long dropped = 0;
            pos = lim = 0;
            while (dropped < 256 * 1024 && server.nanoTime() < until) {
                if (!fill(until)) break;
                dropped += lim - pos;
                pos = lim = 0;
            }
        } catch (IOException | RuntimeException ignored) {
            // closing anyway
        }
        close();
    }

    // ---- reading ----

    /**
     * Reads more bytes into the buffer, waiting until {@code deadline} (on the server's clock,
     * {@link Http1Server#nanoTime()}); false at the end of the stream. Past the deadline it throws a
     * {@link SocketTimeoutException}.
     */
    private boolean fill(long deadline) throws IOException {
        if (pos == lim) {
            pos = lim = 0;
        } else if (lim == buf.length) {
            System.arraycopy(buf, pos, buf, 0, lim - pos);
            lim -= pos;
            pos = 0;
        }
        long wait = deadline - server.nanoTime();
        if (wait <= 0) throw new SocketTimeoutException("timed out");
        CompletableFuture<byte[]> ahead = readAhead;
        if (ahead != null) {
            byte[] got;
            try {
                got = ahead.get(wait, TimeUnit.NANOSECONDS);
            } catch (TimeoutException e) {
                throw new SocketTimeoutException("timed out");
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new java.io.InterruptedIOException("interrupted");
            } catch (ExecutionException e) {
                throw new IOException("read failed", e.getCause());
            }
            readAhead = null;
            if (got.length == 0) return false;
            System.arraycopy(got, 0, buf, lim, got.length); // the watcher reads only into an empty buffer, and less than it holds
            lim += got.length;
            return true;
        }
        socket.setSoTimeout((int) Math.max(1, Math.min(Integer.MAX_VALUE, TimeUnit.NANOSECONDS.toMillis(wait))));
        int n = in.read(buf, lim, buf.length - lim);
        if (n < 0) return false;
        lim += n;
        return true;
    }

    /**
     * One line (without its CRLF or LF) of at most {@code max} bytes, as ISO-8859-1; null at the end of the stream.
     * A longer line is a {@code tooLong} error; a CR that does not end the line is a 400.
     */
    String readLine(int max, long deadline, int tooLong, String what) throws IOException, ProtocolError {
        int scanned = 0; // bytes after pos with no LF among them (fill may move them)
        while (true) {
            for (int i = pos + scanned; i < lim; i++) {
                if (buf[i] != '\n') continue;
                int end = i > pos && buf[i - 1] == '\r' ? i - 1 : i;
                if (end - pos > max) throw new ProtocolError(tooLong, what + " is longer than " + max + " bytes");
                for (int k = pos; k < end; k++) {
                    if (buf[k] == '\r') throw new ProtocolError(400, what + " holds a CR that does not end it");
                }
                String line = new String(buf, pos, end - pos, StandardCharsets.ISO_8859_1);
                pos = i + 1;
                return line;
            }
            scanned = lim - pos;
            if (lim - pos > max + 1) throw new ProtocolError(tooLong, what + " is longer than " + max + " bytes");
            if (!fill(deadline)) {
                if (lim > pos) throw new ProtocolError(400, "the connection ended inside " + what);
                return null;
            }
        }
    }

    /** Up to {@code len} body bytes (at least one, waiting at most the head timeout for them); -1 at the stream's end. */
    int readSome(byte[] b, int off, int len) throws IOException {
        if (pos == lim && !fill(server.nanoTime() + server.headTimeout.toNanos())) return -1;
        int n = Math.min(len, lim - pos);
        System.arraycopy(buf, pos, b, off, n);
        pos += n;
        return n;
    }

    /** A body's line (a chunk size, a chunk's end, a trailer) as {@link #readLine}, its errors as {@link HttpError}s. */
    String readBodyLine(int max, String what) throws IOException {
        try {
            String line = readLine(max, server.nanoTime() + server.headTimeout.toNanos(), 400, what);
            if (line == null) throw new HttpError(400, null, "the connection ended inside the request body");
            return line;
        } catch (ProtocolError e) {
            throw new HttpError(e.status, null, e.getMessage());
        }
    }

    /**
     * Watches for the client's hang-up once the request has been read to its end: a virtual thread reads from the
     * socket; the end of the stream or an error completes {@code gone}, while bytes (a pipelined next request) are
     * kept to be parsed next, and end the watch. Nothing is watched when such bytes are already buffered; false then.
     */
    boolean watch(CompletableFuture<Void> gone) {
        lock.lock();
        try {
            if (closed || readAhead != null || pos < lim) return false;
            CompletableFuture<byte[]> read = new CompletableFuture<>();
            readAhead = read;
            Thread.ofVirtual().name("pd-http-watch").start(() -> {
                byte[] b = new byte[8 * 1024];
                try {
                    socket.setSoTimeout(0);
                    int n = in.read(b);
                    if (n > 0) {
                        read.complete(Arrays.copyOf(b, n));
                        return;
                    }
                } catch (IOException | RuntimeException e) {
                    // reset or closed: gone as well
                }
                read.complete(new byte[0]);
                gone.complete(null);
            });
            return true;
        } finally {
            lock.unlock();
        }
    }

    // ---- the request head ----

    /** The next request's head; null when the client closed, or sent nothing in time, between requests. */
    private Head readHead(boolean first) throws IOException, ProtocolError {
        long idle = server.nanoTime() + (first ? server.headTimeout : server.idleTimeout).toNanos();
        String line;
        int blank = 0;
        long deadline = 0; // the whole head must arrive within the head timeout of its first byte
        try {
            do { // RFC 9112 2.2: a few empty lines before a request are ignored
                while (pos == lim) {
                    if (!fill(deadline != 0 ? deadline : idle)) return null;
                }
                if (deadline == 0) deadline = server.nanoTime() + server.headTimeout.toNanos();
                line = readLine(MAX_LINE, deadline, 414, "the request line");
                if (line == null) return null;
            } while (line.isEmpty() && ++blank < 8);
        } catch (SocketTimeoutException e) {
            if (deadline == 0) return null; // idle, not slow
            throw timeout();
        }
        String[] parts = line.split(" ", -1);
        if (parts.length != 3 || parts[0].isEmpty() || parts[1].isEmpty()) {
            throw new ProtocolError(400, "malformed request line (expected METHOD /path HTTP/1.1)");
        }
        String method = parts[0], target = parts[1], version = parts[2];
        if (!TOKEN.matcher(method).matches()) throw new ProtocolError(400, "malformed request line: the method is not a token");
        if (!HTTP_1.matcher(version).matches()) {
            if (HTTP_ANY.matcher(version).matches()) {
                throw new ProtocolError(505, "HTTP version " + version.substring(5) + " is not supported (use HTTP/1.1)");
            }
            throw new ProtocolError(400, "malformed request line: the protocol must be HTTP/1.1 or HTTP/1.0");
        }
        URI uri = target(method, target);
        Headers headers = new Headers();
        int count = 0, total = 0;
        try {
            while (true) {
                String h = readLine(MAX_LINE, deadline, 431, "a header line");
                if (h == null) throw new ProtocolError(400, "the connection ended inside the request head");
                if (h.isEmpty()) break;
                total += h.length() + 2;
                if (total > MAX_HEAD) throw new ProtocolError(431, "the request headers are larger than " + MAX_HEAD + " bytes");
                if (++count > MAX_HEADERS) throw new ProtocolError(431, "more than " + MAX_HEADERS + " request headers");
                header(headers, h, "header");
            }
        } catch (SocketTimeoutException e) {
            throw timeout();
        }
        return semantics(new Head(method, uri, version, headers, version.equals("HTTP/1.0")));
    }

    private ProtocolError timeout() {
        return new ProtocolError(408, "the request head did not arrive within " + seconds(server.headTimeout));
    }

    /** {@code d} in seconds, as a client reads it ({@code 30 s}, {@code 0.4 s}). */
    static String seconds(java.time.Duration d) {
        return d.toMillis() % 1000 == 0 ? d.toSeconds() + " s" : d.toMillis() / 1000.0 + " s";
    }

    /** The request target: origin-form ({@code /path?query}), absolute-form, or {@code *} for OPTIONS. */
    private static URI target(String method, String target) throws ProtocolError {
        for (int i = 0; i < target.length(); i++) {
            char c = target.charAt(i);
            if (c <= 0x20 || c >= 0x7f) throw new ProtocolError(400, "malformed request target: it must be printable ASCII");
        }
        String lower = target.toLowerCase(Locale.ROOT);
        boolean ok = target.startsWith("/") && !target.startsWith("//") || lower.startsWith("http://") || lower.startsWith("https://")
                || target.equals("*") && method.equals("OPTIONS");
        if (!ok) throw new ProtocolError(400, "malformed request target (expected /path, not starting with //, or an absolute http URL)");
        try {
            return new URI(target);
        } catch (URISyntaxException e) {
            throw new ProtocolError(400, "malformed request target: " + e.getReason());
        }
    }

    /** Parses {@code name: value} into {@code headers}. */
    static void header(Headers headers, String line, String what) throws ProtocolError {
        char c0 = line.charAt(0);
        if (c0 == ' ' || c0 == '\t') throw new ProtocolError(400, "folded " + what + " lines (obs-fold) are not allowed");
        int colon = line.indexOf(':');
        if (colon < 0) throw new ProtocolError(400, "malformed " + what + " line (expected name: value)");
        String name = line.substring(0, colon);
        if (!TOKEN.matcher(name).matches()) {
            throw new ProtocolError(400, "malformed " + what + " name (a token, with no space before its colon)");
        }
        String value = line.substring(colon + 1);
        int a = 0, b = value.length();
        while (a < b && (value.charAt(a) == ' ' || value.charAt(a) == '\t')) a++;
        while (b > a && (value.charAt(b - 1) == ' ' || value.charAt(b - 1) == '\t')) b--;
        value = value.substring(a, b);
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            if (c < 0x20 && c != '\t' || c == 0x7f) throw new ProtocolError(400, what + " " + name + " holds a control character");
        }
        headers.add(name, value);
    }

    /** Checks what the framing and routing headers say. */
    private static Head semantics(Head head) throws ProtocolError {
        Headers h = head.headers();
        List<String> hosts = h.get("Host");
        if (!head.http10() && (hosts == null || hosts.size() != 1)) {
            throw new ProtocolError(400, "an HTTP/1.1 request needs exactly one Host header");
        }
        List<String> te = h.get("Transfer-Encoding");
        List<String> cl = h.get("Content-Length");
        if (te != null && cl != null) throw new ProtocolError(400, "a request cannot have both Content-Length and Transfer-Encoding");
        if (te != null) {
            List<String> codings = tokens(te);
            for (String c : codings) {
                if (!c.equals("chunked")) throw new ProtocolError(501, "transfer coding '" + c + "' is not supported (only chunked)");
            }
            if (codings.size() != 1) throw new ProtocolError(400, "malformed Transfer-Encoding (chunked, once)");
        }
        if (cl != null) contentLength(cl);
        return head;
    }

    /** The request's Content-Length: digits only; given more than once, every value the same. */
    static long contentLength(List<String> values) throws ProtocolError {
        String seen = null;
        for (String v : values) {
            for (String one : v.split(",", -1)) {
                String s = one.strip();
                if (s.isEmpty() || !s.chars().allMatch(c -> c >= '0' && c <= '9')) {
                    throw new ProtocolError(400, "bad Content-Length (digits only): '" + printable(s) + "'");
                }
                s = s.replaceFirst("^0+(?=.)", "");
                if (seen != null && !seen.equals(s)) throw new ProtocolError(400, "Content-Length given with different values");
                seen = s;
            }
        }
        if (seen.length() > 18) throw new ProtocolError(413, "request body larger than this server accepts");
        return Long.parseLong(seen);
    }

    /** The comma-separated tokens of a header's values, in lower case. */
    static List<String> tokens(List<String> values) {
        return values.stream().flatMap(v -> Arrays.stream(v.split(","))).map(s -> s.strip().toLowerCase(Locale.ROOT))
                .filter(s -> !s.isEmpty()).toList();
    }

    private static String printable(String s) {
        String t = s.length() > 40 ? s.substring(0, 40) + "…" : s;
        return t.replaceAll("[^\\x20-\\x7e…]", "?");
    }

    // ---- writing ----

    /** Today's date as HTTP writes it. */
    static String date() {
        return DATE.format(ZonedDateTime.now(ZoneOffset.UTC));
    }

    /** The JSON error body every answer of this server has: {@code {"error":{"message":…},"detail":…}}. */
    static byte[] errorBody(String message) {
        Map<String, Object> err = new LinkedHashMap<>();
        err.put("message", message);
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("error", err);
        body.put("detail", message);
        try {
            return Exchanges.JSON.writeValueAsBytes(body);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Answers {@code status} with a JSON error and {@code Connection: close}, outside any exchange. */
    private void writeError(int status, String message) throws IOException {
        server.layerAnswered(status);
        byte[] body = errorBody(message);
        String head = "HTTP/1.1 " + status + " " + Http1Exchange.reason(status) + "\r\nDate: " + date()
                + "\r\nContent-Type: application/json\r\nContent-Length: " + body.length + "\r\nConnection: close\r\n\r\n";
        out.write(head.getBytes(StandardCharsets.ISO_8859_1));
        out.write(body);
        out.flush();
    }
}
