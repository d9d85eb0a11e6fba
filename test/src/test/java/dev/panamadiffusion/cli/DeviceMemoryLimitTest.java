package dev.panamadiffusion.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.panamadiffusion.api.DiffusionEngine;
import dev.panamadiffusion.api.EngineOptions;
import dev.panamadiffusion.backend.OutOfDeviceMemoryException;
import dev.panamadiffusion.cuda.CudaBackend;
import dev.panamadiffusion.cuda.CudaContext;
import dev.panamadiffusion.cuda.CudaDriver;
import dev.panamadiffusion.cuda.CudaProbe;
import dev.panamadiffusion.cuda.CudaStatus;
import dev.panamadiffusion.io.DemoModel;
import dev.panamadiffusion.pipeline.StableDiffusionPipeline;
import dev.panamadiffusion.server.ImageServer;
import dev.panamadiffusion.testing.TinyModel;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Running out of device memory, on the CUDA emulator with a 16 MiB device ({@code PDEMU_MEMORY_LIMIT=16M}, set by the
 * test module's {@code device-memory-limit} surefire execution, the only one that runs this tag: the emulator reads the
 * size once per process). The CUDA backend's arena is 60% of that, 9.6 MiB: the demo model's 18 MB of f16 weights do
 * not fit, the tiny reference model's 3 MB do, and its largest requests do not. Each failure must be one clear error
 * (the exception type, the CLI's line and exit code, the server's 503), must give back every byte it took, and must
 * leave the engine serving the next request that fits.
 */
@Tag("device-memory")
class DeviceMemoryLimitTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long LIMIT = 16L << 20;

    @BeforeAll
    static void onTheEmulatorWithASmallDevice() {
        assumeTrue(String.valueOf(LIMIT >> 20).concat("M").equals(System.getenv("PDEMU_MEMORY_LIMIT")),
                "needs PDEMU_MEMORY_LIMIT=16M (the test module's device-memory-limit execution sets it)");
        CudaStatus s = CudaProbe.probe(CudaDriver.EMULATOR);
        assertTrue(s.available(), s.message());
        assertEquals(LIMIT, s.totalMemory(), "the emulator did not take the limit");
    }

    /** Device memory free now, by the driver (cuMemGetInfo), through a context {@code ctx} the test holds. */
    private static long free(CudaContext ctx) {
        return ctx.memoryInfo()[0];
    }

    @Test
    void theBackendStartsOnADeviceSmallerThanItsUsualArena() {
        try (CudaContext ctx = CudaContext.open(0)) {
            long before = free(ctx);
            try (CudaBackend b = new CudaBackend()) {
                assertTrue(b.deviceBytesCapacity() <= before, "arena " + b.deviceBytesCapacity() + " > free " + before);
                assertTrue(b.deviceBytesCapacity() >= before / 2, "arena " + b.deviceBytesCapacity() + " of " + before);
            }
            assertEquals(before, free(ctx));
        }
    }

    @Test
    void anArenaLargerThanTheDeviceIsOutOfDeviceMemory() {
        try (CudaContext ctx = CudaContext.open(0)) {
            long before = free(ctx);
            OutOfDeviceMemoryException e = assertThrows(OutOfDeviceMemoryException.class, () -> new CudaBackend(64L << 20));
            assertTrue(e.getMessage().startsWith("the device arena of 64.0 MiB does not fit: the GPU has 16.0 MiB of 16.0 MiB free"),
                    e.getMessage());
            assertEquals(64L << 20, e.requestedBytes());
            assertEquals(before, free(ctx), "a failed start left device memory taken");
        }
    }

    @Test
    void aModelLargerThanTheDeviceFailsToLoadAndGivesEveryByteBack() {
        try (CudaContext ctx = CudaContext.open(0)) {
            long before = free(ctx);
            EngineOptions options = EngineOptions.defaults(DemoModel.locate()).withBackend("cuda-emu");
            OutOfDeviceMemoryException e = assertThrows(OutOfDeviceMemoryException.class, () -> DiffusionEngine.open(options));
            assertTrue(e.getMessage().startsWith("out of device memory loading the model pdiff-demo onto cuda"), e.getMessage());
            assertTrue(e.requestedBytes() > 0 && e.capacityBytes() > 0 && e.capacityBytes() < LIMIT, e.getMessage());
            assertEquals(before, free(ctx), "device memory after the failed load");

            // a backend the caller keeps: the weights that were uploaded before the failure are back in its arena at once
            try (CudaBackend b = new CudaBackend()) {
                long used = b.deviceBytesInUse();
                assertThrows(OutOfDeviceMemoryException.class, () -> StableDiffusionPipeline.load(DemoModel.locate(), b));
                assertEquals(used, b.deviceBytesInUse(), "arena bytes after the failed load");
            }
            assertEquals(before, free(ctx));
        }
    }

    @Test
    void theCliSaysSoInOneLineWithTheUsersExitCode(@TempDir Path tmp) {
        try (CudaContext ctx = CudaContext.open(0)) {
            long before = free(ctx);
            Path out = tmp.resolve("x.png");
            CliRun r = CliRun.run("generate", "--backend", "cuda-emu", "--prompt", "a red circle", "--steps", "1",
                    "--out", out.toString());
            assertEquals(Main.EXIT_USAGE, r.exit(), r.err());
            assertEquals(1, r.errLines().size(), r.err());
            String line = r.errLines().get(0);
            assertTrue(line.startsWith("error: out of device memory loading the model pdiff-demo onto cuda"), line);
            assertTrue(line.contains("the device arena is full"), line);
            assertFalse(line.contains("unexpected") || line.contains("Exception"), line);
            assertFalse(Files.exists(out));
            assertEquals(before, free(ctx));
        }
    }

    @Test
    void aRequestTooLargeForTheDeviceFailsWithExitCode1AndASmallOneRuns(@TempDir Path tmp) throws Exception {
        Path model = TinyModel.assemble(tmp.resolve("m"), "euler", TinyModel.Tokenizer.FOLDED_CLIP);
        CliRun big = CliRun.run("generate", "--model", model.toString(), "--backend", "cuda-emu", "--prompt", "x",
                "--steps", "1", "--width", "64", "--height", "64", "--batch", "16", "--out", tmp.resolve("big.png").toString());
        assertEquals(Main.EXIT_FAILURE, big.exit(), big.err());
        List<String> lines = big.errLines().stream().filter(l -> !l.startsWith("sampling")).toList();
        assertEquals(1, lines.size(), big.err());
        assertTrue(lines.get(0).startsWith("error: out of device memory generating 16 64x64 images: "), lines.get(0));
        assertTrue(lines.get(0).endsWith("a smaller --width/--height or --batch needs less"), lines.get(0));
        CliRun small = CliRun.run("generate", "--model", model.toString(), "--backend", "cuda-emu", "--prompt", "x",
                "--steps", "2", "--out", tmp.resolve("small.png").toString());
        assertEquals(0, small.exit(), small.err());
    }

    @Test
    void theServerAnswers503FreesTheRequestsMemoryAndServesTheNext(@TempDir Path tmp) throws Exception {
        Path model = TinyModel.assemble(tmp.resolve("m"), "euler", TinyModel.Tokenizer.FOLDED_CLIP);
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
        try (DiffusionEngine engine = DiffusionEngine.open(EngineOptions.defaults(model).withBackend("cuda-emu"));
             ImageServer server = ImageServer.start(engine, new InetSocketAddress("127.0.0.1", 0), 1 << 16)) {
            URI base = URI.create("http://127.0.0.1:" + server.port());
            long loaded = engine.deviceBytesInUse();
            assertTrue(loaded > 0, "device bytes in use after load: " + loaded);

            HttpResponse<String> r = post(http, base, "/sdapi/v1/txt2img",
                    "{\"prompt\": \"x\", \"steps\": 2, \"width\": 64, \"height\": 64, \"batch_size\": 8}");
            assertEquals(503, r.statusCode(), r.body());
            assertTrue(r.headers().firstValue("Content-Type").orElse("").startsWith("application/json"), r.headers().toString());
            JsonNode error = JSON.readTree(r.body()).get("error");
            assertTrue(error.get("message").asText().startsWith("out of device memory generating 8 64x64 images: "), r.body());
            assertEquals(loaded, engine.deviceBytesInUse(), "device bytes in use after the failed request");

            r = post(http, base, "/v1/images/generations", "{\"prompt\": \"x\", \"steps\": 2, \"size\": \"64x64\", \"n\": 8}");
            assertEquals(503, r.statusCode(), r.body());
            assertEquals(loaded, engine.deviceBytesInUse(), "device bytes in use after the second failed request");

            String small = "{\"prompt\": \"x\", \"steps\": 2, \"seed\": 3}";
            r = post(http, base, "/sdapi/v1/txt2img", small);
            assertEquals(200, r.statusCode(), r.body());
            assertEquals(1, JSON.readTree(r.body()).get("images").size());
            r = post(http, base, "/sdapi/v1/txt2img", small);
            assertEquals(200, r.statusCode(), r.body());

            String metrics = http.send(HttpRequest.newBuilder(base.resolve("/metrics")).build(),
                    HttpResponse.BodyHandlers.ofString()).body();
            assertTrue(metrics.contains("\npd_requests_out_of_device_memory_total 2\n"), metrics);
            assertTrue(metrics.contains("\npd_device_memory_used_bytes "), metrics);
        }
    }

    private static HttpResponse<String> post(HttpClient http, URI base, String path, String body) throws Exception {
        return http.send(HttpRequest.newBuilder(base.resolve(path)).timeout(Duration.ofMinutes(5))
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }
}
