package dev.panamadiffusion.server;

import com.sun.net.httpserver.Authenticator;
import com.sun.net.httpserver.Filter;
import com.sun.net.httpserver.HttpContext;
import com.sun.net.httpserver.HttpHandler;
import com.sun.net.httpserver.HttpServer;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A path prefix of an {@link Http1Server} and its handler, as the JDK's {@link HttpContext}: the filters run before
 * the handler; an authenticator is kept but, unlike the JDK's server, not consulted (nothing here sets one).
 */
final class Http1Context extends HttpContext {
    private final Http1Server server;
    private final String path;
    private final List<Filter> filters = new CopyOnWriteArrayList<>();
    private final Map<String, Object> attributes = new ConcurrentHashMap<>();
    private volatile HttpHandler handler;
    private volatile Authenticator authenticator;

    Http1Context(Http1Server server, String path, HttpHandler handler) {
        this.server = server;
        this.path = path;
        this.handler = handler;
    }

    @Override
    public HttpHandler getHandler() { return handler; }

    @Override
    public void setHandler(HttpHandler h) {
        if (h == null) throw new NullPointerException("null handler");
        if (handler != null) throw new IllegalArgumentException("handler already set");
        handler = h;
    }

    @Override
    public String getPath() { return path; }

    @Override
    public HttpServer getServer() { return server; }

    @Override
    public Map<String, Object> getAttributes() { return attributes; }

    @Override
    public List<Filter> getFilters() { return filters; }

    @Override
    public Authenticator setAuthenticator(Authenticator auth) {
        Authenticator old = authenticator;
        authenticator = auth;
        return old;
    }

    @Override
    public Authenticator getAuthenticator() { return authenticator; }
}
