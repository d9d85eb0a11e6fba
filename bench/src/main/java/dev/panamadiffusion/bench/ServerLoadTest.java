package dev.panamadiffusion.bench;

import dev.panamadiffusion.api.DiffusionEngine;
import dev.panamadiffusion.api.EngineOptions;
import dev.panamadiffusion.server.ImageServer;
import dev.panamadiffusion.verify.ReferenceModelFolder;
import java.io.IOException;
import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A bounded loopback load test of {@code pdiff serve}: at each concurrency level, every client sends a fixed number of
 * txt2img requests one after another (with a wall-clock cap); reports images/s and p50/p99 latency, once with
 * step-level batching across requests and once serial (one guided image per UNet step), and the off-heap memory
 * ("direct" pool, where every Arena allocation is counted) before and after each level.
 *
 * <p>Run: {@code java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp bench/target/benchmarks.jar
 * dev.panamadiffusion.bench.ServerLoadTest MODEL_DIR|REFERENCE_DIR [requestsPerClient] [steps] [size] [levels]}; a reference
 * set ({@code ../shared/reference}) runs on the model folder assembled from its tiny components.
 */
public final class ServerLoadTest {
    private ServerLoadTest() {}

    record Level(String mode, int clients, int requests, int errors, double seconds, double p50, double p99,
                 long directBefore, long directAfter, long rssBefore, long rssAfter) {
        double imagesPerSecond() { return (requests - errors) / seconds; }
    }

    public static void main(String[] args) throws Exception {
        Path model = Path.of(args[0]);
        if (!Files.exists(model.resolve("model_index.json")) && Files.isDirectory(model.resolve("tiny"))) {
            // a reference set: run on the model folder assembled from its tiny components
            Path dir = Files.createTempDirectory("pd-load");
            model = ReferenceModelFolder.assemble(model, dir.resolve("tiny-sd"), "euler_a", ReferenceModelFolder.Tokenizer.TINY_BPE);
        }
        int perClient = args.length > 1 ? Integer.parseInt(args[1]) : 4;
        int steps = args.length > 2 ? Integer.parseInt(args[2]) : 4;
        int size = args.length > 3 ? Integer.parseInt(args[3]) : 64;
        int[] levels = args.length > 4 ? parseLevels(args[4]) : new int[] {1, 2, 4, 8};
        List<Level> results = new ArrayList<>();
        for (String mode : List.of("batched", "serial")) {
            int maxBatch = mode.equals("batched") ? 16 : 2;
            EngineOptions options = EngineOptions.defaults(model).withBackend("cpu").withMaxBatch(maxBatch).withQueueCapacity(64);
            try (DiffusionEngine engine = DiffusionEngine.open(options);
                 ImageServer server = ImageServer.start(engine, new InetSocketAddress("127.0.0.1", 0), ImageServer.DEFAULT_BODY_LIMIT)) {
                URI uri = URI.create("http://127.0.0.1:" + server.port() + "/sdapi/v1/txt2img");
                // warm-up at the highest concurrency: JIT, packed weights, and the backend's memory pool at its working size,
                // so that what the levels report afterwards is growth, not first use
                run(uri, Arrays.stream(levels).max().orElse(1), 1, steps, size, mode);
                for (int c : levels) results.add(run(uri, c, perClient, steps, size, mode));
                // the top level once more: with no leak, memory after it is what it was after the first pass
                int top = Arrays.stream(levels).max().orElse(1);
                Level again = run(uri, top, perClient, steps, size, mode);
                results.add(new Level(mode + " (top level again)", again.clients(), again.requests(), again.errors(), again.seconds(),
                        again.p50(), again.p99(), again.directBefore(), again.directAfter(), again.rssBefore(), again.rssAfter()));
            }
        }
        System.out.println("| mode | clients | requests | errors | images/s | p50 s | p99 s | direct MiB before → after | RSS MiB before → after |");
        System.out.println("|---|---|---|---|---|---|---|---|---|");
        for (Level l : results) {
            System.out.printf(Locale.ROOT, "| %s | %d | %d | %d | %.2f | %.2f | %.2f | %.1f → %.1f | %.0f → %.0f |%n", l.mode, l.clients, l.requests,
                    l.errors, l.imagesPerSecond(), l.p50, l.p99, l.directBefore / 1048576.0, l.directAfter / 1048576.0,
                    l.rssBefore / 1048576.0, l.rssAfter / 1048576.0);
        }
        if (results.stream().anyMatch(l -> l.errors > 0)) System.exit(1);
    }

    private static Level run(URI uri, int clients, int perClient, int steps, int size, String mode) throws Exception {
        long before = directBytes();
        long rssBefore = rssBytes();
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
        List<Double> latencies = Collections.synchronizedList(new ArrayList<>());
        AtomicInteger errors = new AtomicInteger();
        long deadline = System.nanoTime() + Duration.ofMinutes(10).toNanos();
        long t0 = System.nanoTime();
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<?>> fs = new ArrayList<>();
            for (int c = 0; c < clients; c++) {
                int client = c;
                fs.add(pool.submit(() -> {
                    for (int i = 0; i < perClient && System.nanoTime() < deadline; i++) {
                        String body = String.format(Locale.ROOT, "{\"prompt\":\"a photo of client %d request %d\",\"steps\":%d,"
                                + "\"cfg_scale\":7.5,\"sampler_name\":\"Euler a\",\"seed\":%d,\"width\":%d,\"height\":%d}",
                                client, i, steps, client * 1000L + i, size, size);
                        long s = System.nanoTime();
                        try {
                            HttpResponse<String> r = http.send(HttpRequest.newBuilder(uri).timeout(Duration.ofMinutes(10))
                                    .POST(HttpRequest.BodyPublishers.ofString(body)).header("Content-Type", "application/json").build(),
                                    HttpResponse.BodyHandlers.ofString());
                            if (r.statusCode() != 200 || !r.body().contains("\"images\":[\"")) {
                                errors.incrementAndGet();
                                System.err.println("error " + r.statusCode() + ": " + r.body().substring(0, Math.min(200, r.body().length())));
                            }
                        } catch (Exception e) {
                            errors.incrementAndGet();
                            System.err.println("error: " + e);
                        }
                        latencies.add((System.nanoTime() - s) / 1e9);
                    }
                    return null;
                }));
            }
            for (Future<?> f : fs) f.get();
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        long after = directBytes();
        long rssAfter = rssBytes();
        List<Double> sorted = new ArrayList<>(latencies);
        Collections.sort(sorted);
        return new Level(mode, clients, sorted.size(), errors.get(), seconds, quantile(sorted, 0.5), quantile(sorted, 0.99), before, after, rssBefore, rssAfter);
    }

    static double quantile(List<Double> sorted, double q) {
        if (sorted.isEmpty()) return Double.NaN;
        int i = (int) Math.ceil(q * sorted.size()) - 1;
        return sorted.get(Math.max(0, Math.min(sorted.size() - 1, i)));
    }

    /** Resident set size of this process in bytes (Linux), after the GC of {@link #directBytes()}. */
    static long rssBytes() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmRSS:")) return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
            }
        } catch (IOException e) {
            return -1;
        }
        return -1;
    }

    /** Off-heap bytes in use after a GC (Arena.ofAuto segments freed): the JDK counts native segments in the "direct" pool. */
    static long directBytes() throws InterruptedException {
        for (int i = 0; i < 3; i++) {
            System.gc();
            Thread.sleep(200);
        }
        for (BufferPoolMXBean b : ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class)) {
            if (b.getName().equals("direct")) return b.getMemoryUsed();
        }
        return -1;
    }

    private static int[] parseLevels(String s) {
        String[] parts = s.split(",");
        int[] out = new int[parts.length];
        for (int i = 0; i < parts.length; i++) out[i] = Integer.parseInt(parts[i].trim());
        return out;
    }
}
