package dev.panamadiffusion.server;

import com.sun.net.httpserver.HttpContext;
import com.sun.net.httpserver.HttpHandler;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.function.IntConsumer;

/**
 * A small, strict HTTP/1.1 server behind the JDK's {@link HttpServer} API, so that handlers written for the JDK's
 * server run unchanged while every answer, the protocol layer's own included, is JSON. The JDK's server answers what
 * its parser refuses (a malformed request line, a bad {@code Content-Length}, over-long headers) with a fixed HTML
 * page and never says when a client hangs up; this one answers each such request with
 * {@code {"error":{"message":…},"detail":…}} and the right status (400, 408, 413, 414, 431, 501, 505), and tells a
 * handler that waits when its client has gone ({@link Http1Exchange#onClientGone}).
 *
 * <p>One platform thread accepts; each connection runs on a task of the {@linkplain #setExecutor executor} (a new
 * virtual thread per connection when none is set), which parses its requests ({@link Http1Connection}) and runs the
 * handler of the context with the longest matching path prefix, as the JDK's server does. Connections are kept alive
 * (HTTP/1.1 unless {@code Connection: close}; HTTP/1.0 only with {@code keep-alive}) while each request's body was
 * read to its end, and closed after {@link #idleTimeout} without a new request. {@link #stop} is graceful: it refuses
 * new connections at once, closes idle ones, and waits for the exchanges in progress.
 */
final class Http1Server extends HttpServer {
    /** Default time to receive a request's head, and each read of its body. */
    static final Duration HEAD_TIMEOUT = Duration.ofSeconds(30);
    /** Default time an idle keep-alive connection stays open. */
    static final Duration IDLE_TIMEOUT = Duration.ofSeconds(30);

    final Duration headTimeout;
    final Duration idleTimeout;
    private final Map<String, Http1Context> contexts = new ConcurrentHashMap<>();
    private final Set<Http1Connection> connections = ConcurrentHashMap.newKeySet();
    private volatile ServerSocket socket;
    private volatile Executor executor;
    private volatile Thread acceptor;
    private volatile boolean stopping;
    private volatile IntConsumer layerAnswers = status -> { };
    /** The clock of the connections' deadlines, in nanoseconds ({@link System#nanoTime()}; tests give their own). */
    private volatile java.util.function.LongSupplier ticker = System::nanoTime;

    /** A server with the default timeouts, not yet bound. */
    Http1Server() {
        this(HEAD_TIMEOUT, IDLE_TIMEOUT);
    }

    /** A server, not yet bound, with its own time limits for a request's head and for an idle connection. */
    Http1Server(Duration headTimeout, Duration idleTimeout) {
        if (headTimeout.isZero() || headTimeout.isNegative() || idleTimeout.isZero() || idleTimeout.isNegative()) {
            throw new IllegalArgumentException("timeouts must be positive");
        }
        this.headTimeout = headTimeout;
        this.idleTimeout = idleTimeout;
    }

    /** A server bound to {@code address} with {@code backlog} (0 or less: the system's default), not yet started. */
    static Http1Server open(InetSocketAddress address, int backlog) throws IOException {
        Http1Server server = new Http1Server();
        server.bind(address, backlog);
        return server;
    }

    @Override
    public synchronized void bind(InetSocketAddress addr, int backlog) throws IOException {
        if (socket != null) throw new java.net.BindException("HTTP server already bound");
        if (addr == null) throw new NullPointerException("null address");
        ServerSocket s = new ServerSocket();
        try {
            s.setReuseAddress(true);
            s.bind(addr, backlog);
        } catch (IOException | RuntimeException e) {
            s.close();
            throw e;
        }
        socket = s;
    }

    /**
     * Serves on {@code bound}, a listening socket made elsewhere (tests: one whose accepted connections they watch, to
     * order a connection's steps against {@link #stop}).
     */
    synchronized void bind(ServerSocket bound) throws java.net.BindException {
        if (socket != null) throw new java.net.BindException("HTTP server already bound");
        if (!bound.isBound()) throw new IllegalArgumentException("the socket is not bound");
        socket = bound;
    }

    /** Reads the connections' deadlines from {@code nanos} instead of {@link System#nanoTime()}; before {@link #start}. */
    void ticker(java.util.function.LongSupplier nanos) {
        if (acceptor != null) throw new IllegalStateException("server already started");
        ticker = java.util.Objects.requireNonNull(nanos);
    }

    /** Now, on the clock of the connections' deadlines. */
    long nanoTime() { return ticker.getAsLong(); }

    @Override
    public synchronized void start() {
        if (socket == null) throw new IllegalStateException("server not bound");
        if (acceptor != null || stopping) throw new IllegalStateException("server already started");
        acceptor = Thread.ofPlatform().daemon(true).name("pd-http-accept-" + socket.getLocalPort()).start(this::acceptLoop);
    }

    private void acceptLoop() {
        ServerSocket s = socket;
        while (!stopping) {
            Socket client;
            try {
                client = s.accept();
            } catch (IOException e) {
                if (stopping || s.isClosed()) return;
                continue; // a connection that failed while being accepted
            }
            Http1Connection c = new Http1Connection(this, client);
            connections.add(c);
            if (stopping) { // stop() may have missed it
                c.close();
                connections.remove(c);
                return;
            }
            try {
                Executor ex = executor;
                if (ex != null) ex.execute(c);
                else Thread.ofVirtual().name("pd-http").start(c);
            } catch (RejectedExecutionException e) {
                c.close();
                connections.remove(c);
            }
        }
    }

    /**
     * Has {@code listener} told the status of every answer the layer gives itself, which no handler sees: a request it
     * refused (400, 408, 413, 414, 431, 501, 505), no context for the path (404), a handler that failed or said nothing
     * (500).
     */
    void onLayerAnswer(IntConsumer listener) {
        layerAnswers = listener;
    }

    void layerAnswered(int status) {
        try {
            layerAnswers.accept(status);
        } catch (RuntimeException ignored) {
            // a listener's failure is not the client's
        }
    }

    /** Called by a connection when it has closed. */
    void closed(Http1Connection c) {
        connections.remove(c);
    }

    /** Whether {@link #stop} was called: connections then close after their exchange. */
    boolean stopping() { return stopping; }

    @Override
    public void setExecutor(Executor executor) {
        if (acceptor != null) throw new IllegalStateException("server already started");
        this.executor = executor;
    }

    @Override
    public Executor getExecutor() { return executor; }

    /**
     * Stops: the listening socket closes at once (new connections are refused), idle connections close, and this
     * blocks until every exchange in progress has finished or {@code delay} seconds have passed; then every connection
     * is closed.
     */
    @Override
    public void stop(int delay) {
        if (delay < 0) throw new IllegalArgumentException("negative delay parameter");
        stopping = true;
        ServerSocket s = socket;
        if (s != null) {
            try {
                s.close();
            } catch (IOException ignored) {
                // closing anyway
            }
        }
        long deadline = System.nanoTime() + Duration.ofSeconds(delay).toNanos();
        while (true) {
            boolean busy = false;
            for (Http1Connection c : connections) busy |= !c.closeIfIdle();
            if (!busy || System.nanoTime() - deadline >= 0) break;
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        for (Http1Connection c : connections) c.close();
        Thread a = acceptor;
        if (a != null) {
            try {
                a.join(1000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    @Override
    public HttpContext createContext(String path, HttpHandler handler) {
        if (handler == null) throw new NullPointerException("null handler");
        return addContext(path, handler);
    }

    @Override
    public HttpContext createContext(String path) {
        return addContext(path, null);
    }

    private HttpContext addContext(String path, HttpHandler handler) {
        if (path == null) throw new NullPointerException("null path");
        if (!path.startsWith("/")) throw new IllegalArgumentException("Illegal value for path or protocol");
        Http1Context c = new Http1Context(this, path, handler);
        if (contexts.putIfAbsent(path, c) != null) throw new IllegalArgumentException("cannot add context to list");
        return c;
    }

    @Override
    public void removeContext(String path) {
        if (path == null) throw new NullPointerException("null path");
        if (contexts.remove(path) == null) throw new IllegalArgumentException("cannot remove element from list");
    }

    @Override
    public void removeContext(HttpContext context) {
        if (context == null) throw new NullPointerException("null context");
        if (!contexts.remove(context.getPath(), context)) throw new IllegalArgumentException("cannot remove element from list");
    }

    /** The context whose path is the longest prefix of {@code path} (null when none is), as the JDK's server finds it. */
    Http1Context find(String path) {
        Http1Context best = null;
        for (Http1Context c : contexts.values()) {
            if (path.startsWith(c.getPath()) && (best == null || c.getPath().length() > best.getPath().length())) best = c;
        }
        return best;
    }

    @Override
    public InetSocketAddress getAddress() {
        ServerSocket s = socket;
        return s == null ? null : (InetSocketAddress) s.getLocalSocketAddress();
    }

    /** The number of open connections (for tests). */
    int connectionCount() { return connections.size(); }
}
