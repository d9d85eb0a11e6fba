package dev.panamadiffusion.server;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import com.sun.net.httpserver.HttpServer;
import dev.panamadiffusion.api.DiffusionEngine;
import dev.panamadiffusion.api.EngineBusyException;
import dev.panamadiffusion.pipeline.InvalidRequestException;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.LongAdder;

/**
 * The HTTP front of an engine, on this package's own strict HTTP/1.1 layer ({@link Http1Server}, behind the JDK's
 * {@code HttpServer} API) with one virtual thread per connection: the AUTOMATIC1111 API ({@code /sdapi/v1/txt2img},
 * {@code /img2img}, {@code /progress}, {@code /interrupt}), the OpenAI images API ({@code /v1/images/generations},
 * {@code /v1/images/edits}), {@code /health} and {@code /metrics}. Every failure is answered with a JSON body (400
 * naming the field, 413, 429 with Retry-After, 503 when the device ran out of memory, 500, and the HTTP layer's own
 * 400/408/413/414/431/501/505 for requests it refuses before they reach a handler) and never stops the server. A
 * client that closes its connection while its generation runs has that generation cancelled (counted as 499 in
 * {@code /metrics}).
 */
public final class ImageServer implements AutoCloseable {
    /** Largest request body accepted, in bytes. */
    public static final int DEFAULT_BODY_LIMIT = 64 * 1024;

    private final HttpServer http;
    private final ExecutorService executor;
    private final DiffusionEngine engine;
    private final int bodyLimit;
    private final Map<Integer, LongAdder> responses = new ConcurrentHashMap<>();

    private ImageServer(HttpServer http, ExecutorService executor, DiffusionEngine engine, int bodyLimit) {
        this.http = http;
        this.executor = executor;
        this.engine = engine;
        this.bodyLimit = bodyLimit;
    }

    /** Starts serving {@code engine} on {@code address} (port 0 picks a free port), with no request deadline. */
    public static ImageServer start(DiffusionEngine engine, InetSocketAddress address, int bodyLimit) throws IOException {
        return start(engine, address, bodyLimit, Duration.ZERO);
    }

    /**
     * Starts serving {@code engine} on {@code address}; a generation still running {@code requestTimeout} after its
     * request arrived (queueing included) is cancelled and answered with a 504 ({@link Duration#ZERO}: no deadline).
     */
    public static ImageServer start(DiffusionEngine engine, InetSocketAddress address, int bodyLimit, Duration requestTimeout)
            throws IOException {
        if (requestTimeout.isNegative()) throw new IllegalArgumentException("request timeout must be >= 0, got " + requestTimeout);
        Http1Server http = Http1Server.open(address, 128);
        ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
        http.setExecutor(executor);
        ImageServer server = new ImageServer(http, executor, engine, bodyLimit);
        http.onLayerAnswer(status -> server.responses.computeIfAbsent(status, k -> new LongAdder()).increment());
        A1111Api a1111 = new A1111Api(engine, requestTimeout);
        OpenAiImagesApi openai = new OpenAiImagesApi(engine, requestTimeout);
        server.route("/sdapi/v1/txt2img", ex -> a1111.txt2img(ex, server.readJson(ex)));
        server.route("/sdapi/v1/img2img", ex -> a1111.img2img(ex, server.readJson(ex)));
        server.route("/sdapi/v1/progress", a1111::progress);
        server.route("/sdapi/v1/interrupt", a1111::interrupt);
        server.route("/sdapi/v1/samplers", a1111::samplers);
        server.route("/sdapi/v1/sd-models", a1111::models);
        server.route("/sdapi/v1/options", a1111::options);
        server.route("/v1/images/generations", ex -> openai.generations(ex, server.readJson(ex)));
        OpenAiEditsApi edits = new OpenAiEditsApi(engine, requestTimeout);
        server.route("/v1/images/edits", ex -> edits.edits(ex, server.readMultipart(ex)));
        server.route("/health", server::health);
        server.route("/metrics", server::metrics);
        server.route("/", ex -> {
            throw new HttpError(404, null, "no such endpoint: " + ex.getRequestURI().getPath());
        });
        http.start();
        return server;
    }

    public int port() { return http.getAddress().getPort(); }

    private com.fasterxml.jackson.databind.JsonNode readJson(HttpExchange ex) throws IOException {
        Exchanges.requireMethod(ex, "POST");
        return Exchanges.readJson(ex, bodyLimit);
    }

    private Multipart readMultipart(HttpExchange ex) throws IOException {
        Exchanges.requireMethod(ex, "POST");
        return Multipart.parse(ex.getRequestHeaders().getFirst("Content-Type"), Exchanges.readBody(ex, bodyLimit));
    }

    interface Handler {
        void handle(HttpExchange ex) throws Exception;
    }

    /**
     * Serves {@code path} (exactly: a longer path under it is a 404) with {@code h}, whose failures become JSON errors
     * in both APIs' shape; every answer is counted by status for {@code /metrics}, 499 when the client left first.
     */
    void route(String path, Handler h) {
        http.createContext(path, ex -> {
            int status = 500;
            try {
                status = answer(ex, path, h);
            } finally {
                count(ex, status);
                ex.close();
            }
        });
    }

    /** Runs {@code h} on {@code ex}, answering its failure; the status sent. */
    private static int answer(HttpExchange ex, String path, Handler h) {
        try {
            if (!ex.getRequestURI().getPath().equals(path)) throw new HttpError(404, null, "no such endpoint: " + ex.getRequestURI().getPath());
            h.handle(ex);
            return ex.getResponseCode();
        } catch (HttpError e) {
            error(ex, e.status, e.field, e.getMessage());
            return e.status;
        } catch (InvalidRequestException e) {
            HttpError bad = Fields.badRequest(e, Map.of());
            error(ex, 400, bad.field, bad.getMessage());
            return 400;
        } catch (dev.panamadiffusion.backend.OutOfDeviceMemoryException e) {
            HttpError unavailable = Fields.failed(e);
            error(ex, unavailable.status, null, unavailable.getMessage());
            return unavailable.status;
        } catch (EngineBusyException e) {
            ex.getResponseHeaders().set("Retry-After", Integer.toString(e.retryAfterSeconds()));
            error(ex, 429, null, e.getMessage());
            return 429;
        } catch (Exception e) {
            error(ex, 500, null, e.getClass().getSimpleName() + ": " + e.getMessage());
            return 500;
        }
    }

    /** Counts an answer of {@code status}, or 499 (nginx's "client closed request") when the client left before it. */
    private void count(HttpExchange ex, int status) {
        if (ex instanceof Http1Exchange x && x.clientGone()) status = 499;
        responses.computeIfAbsent(status, k -> new LongAdder()).increment();
    }

    private static void error(HttpExchange ex, int status, String field, String message) {
        Map<String, Object> err = new LinkedHashMap<>();
        err.put("message", message);
        if (field != null) err.put("field", field);
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("error", err);
        body.put("detail", message); // what AUTOMATIC1111 clients print
        try {
            Exchanges.sendJson(ex, status, body);
        } catch (IOException | RuntimeException ignored) {
            // the client went away, or headers were already sent
        }
    }

    private void health(HttpExchange ex) throws IOException {
        Exchanges.requireMethod(ex, "GET");
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("status", "ok");
        body.put("model", engine.modelName());
        body.put("backend", engine.backendName());
        body.put("queued", engine.queued());
        body.put("running", engine.running().size());
        Exchanges.sendJson(ex, 200, body);
    }

    private void metrics(HttpExchange ex) throws IOException {
        Exchanges.requireMethod(ex, "GET");
        StringBuilder sb = new StringBuilder(engine.prometheusMetrics());
        sb.append("# HELP pd_http_responses_total HTTP responses by status code.\n# TYPE pd_http_responses_total counter\n");
        responses.forEach((code, n) -> sb.append("pd_http_responses_total{code=\"").append(code).append("\"} ").append(n.sum()).append('\n'));
        Exchanges.sendText(ex, 200, "text/plain; version=0.0.4; charset=utf-8", sb.toString());
    }

    /**
     * Stops gracefully: no new connections from now on; requests in progress get until {@code grace} to finish, then
     * every generation still running or waiting is cancelled (each stops within a UNet block) and answered; returns once
     * every exchange has been answered, or a few seconds after the grace period in any case.
     */
    public void shutdown(Duration grace) {
        Thread canceller = Thread.ofPlatform().daemon(true).name("pd-shutdown-deadline").start(() -> {
            try {
                Thread.sleep(grace);
                engine.cancelAll();
            } catch (InterruptedException e) {
                // every exchange finished in time
            }
        });
        http.stop((int) Math.min(Integer.MAX_VALUE, grace.toSeconds() + 5)); // blocks until the exchanges are done
        canceller.interrupt();
        executor.shutdownNow();
    }

    @Override
    public void close() {
        http.stop(0);
        executor.shutdownNow();
    }
}
