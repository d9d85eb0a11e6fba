package dev.panamadiffusion.cli;

import dev.panamadiffusion.api.DiffusionEngine;
import dev.panamadiffusion.api.EngineOptions;
import dev.panamadiffusion.io.ModelFolder;
import dev.panamadiffusion.pipeline.StableDiffusionPipeline;
import dev.panamadiffusion.pipeline.VaeTiling;
import dev.panamadiffusion.server.ImageServer;
import java.io.PrintWriter;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code pdiff serve}: the HTTP image server (AUTOMATIC1111 and OpenAI APIs) over one loaded model. SIGTERM and
 * SIGINT (Ctrl-C) stop it gracefully: no new connections, running requests get {@code --shutdown-grace} seconds to
 * finish, then are cancelled and answered; then it exits with code 0.
 */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = "Serve a model over HTTP: POST /sdapi/v1/txt2img (AUTOMATIC1111), GET /sdapi/v1/progress, "
                + "POST /sdapi/v1/interrupt, POST /v1/images/generations (OpenAI), GET /health, GET /metrics (Prometheus).")
public final class ServeCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--model", paramLabel = "DIR",
            description = "Diffusers model folder, or a single-file .safetensors checkpoint (SD 1.x/2.x or SDXL base, LDM layout). Default: the project's demo model (models/pdiff-demo).")
    Path model;

    @Option(names = "--port", defaultValue = "7860", description = "TCP port (0 picks a free one). Default: ${DEFAULT-VALUE}.")
    int port;

    @Option(names = "--host", defaultValue = "127.0.0.1", description = "Address to bind. Default: ${DEFAULT-VALUE}.")
    String host;

    @Option(names = "--backend", defaultValue = "auto", description = "cpu, cuda, cuda-emu (the CUDA emulator) or auto. Default: ${DEFAULT-VALUE}.")
    String backend;

    @Option(names = "--weights", paramLabel = "f32|bf16|int8",
            description = "How the CPU backend stores its linear and convolution weights: f32, bf16 (half the memory) or int8"
                    + " (about a quarter, one scale per 32 weights), widened back to f32 as the products read them; activations stay f32."
                    + " cpu backend only. Default: f32.")
    String weights;

    @Option(names = "--max-batch", defaultValue = "8",
            description = "Most UNet rows per step across requests (a guided image takes 2). Default: ${DEFAULT-VALUE}.")
    int maxBatch;

    @Option(names = "--queue", defaultValue = "32", description = "Requests that may wait; more get 429. Default: ${DEFAULT-VALUE}.")
    int queue;

    @Option(names = "--max-body", defaultValue = "65536", description = "Largest request body in bytes. Default: ${DEFAULT-VALUE}.")
    int maxBody;

    @Option(names = "--request-timeout", defaultValue = "600", paramLabel = "SECONDS",
            description = "A request still running this long after it arrived (queueing included) is cancelled and answered"
                    + " 504; 0: no limit. Default: ${DEFAULT-VALUE}.")
    int requestTimeout;

    @Option(names = "--shutdown-grace", defaultValue = "30", paramLabel = "SECONDS",
            description = "On SIGTERM/Ctrl-C, how long running requests may finish before they are cancelled. Default: ${DEFAULT-VALUE}.")
    int shutdownGrace;

    @Option(names = "--vae-tiling", arity = "0..1", fallbackValue = "on", paramLabel = "auto|on|off",
            description = "Decode (and encode) pictures in overlapping tiles (diffusers' enable_vae_tiling()): less memory"
                    + " for big pictures, seams near the tile borders. auto: pictures over 1024x1024 pixels; alone: on."
                    + " Default: auto.")
    String vaeTiling;

    @Option(names = "--vae-tile-size", paramLabel = "PIXELS",
            description = "Tile side for VAE tiling, a multiple of 4 x the VAE's scale (32 for SD). Default: the VAE's sample_size.")
    Integer vaeTileSize;

    @Override
    public Integer call() throws Exception {
        Path model = Main.modelOrDemo(this.model);
        if (!Files.exists(model)) throw new Main.UsageException("model folder " + model + " does not exist");
        if (maxBatch < 1 || queue < 1 || maxBody < 1024) throw new Main.UsageException("--max-batch and --queue must be >= 1, --max-body >= 1024");
        if (requestTimeout < 0 || shutdownGrace < 0) throw new Main.UsageException("--request-timeout and --shutdown-grace must be >= 0");
        VaeTiling tiling = GenerateCommand.vaeTiling(vaeTiling, vaeTileSize);
        if (tiling.tileSize() != 0) {
            GenerateCommand.checkVaeTileSize(tiling, Main.usage(() -> StableDiffusionPipeline.sizeRule(ModelFolder.open(model)))
                    .vaeScaleFactor());
        }
        PrintWriter err = spec.commandLine().getErr();
        EngineOptions options = EngineOptions.defaults(model).withBackend(backend).withMaxBatch(maxBatch).withQueueCapacity(queue)
                .withVaeTiling(tiling).withWeights(GenerateCommand.weightPrecision(weights));
        DiffusionEngine engine;
        try {
            engine = Main.usage(() -> DiffusionEngine.open(options));
        } catch (IllegalStateException e) { // CUDA unusable here
            throw new Main.UsageException(e.getMessage());
        }
        ImageServer server;
        try {
            server = ImageServer.start(engine, new InetSocketAddress(host, port), maxBody, Duration.ofSeconds(requestTimeout));
        } catch (Exception e) {
            engine.close();
            throw new Main.UsageException("cannot serve on " + host + ":" + port + ": " + e.getMessage());
        }
        CountDownLatch stop = new CountDownLatch(1);
        Signals.onTermination(stop::countDown);
        err.printf("serving %s on http://%s:%d (backend %s, max batch %d, queue %d); Ctrl-C stops%n",
                engine.modelName(), host, server.port(), engine.backendName(), maxBatch, queue);
        err.flush();
        stop.await();
        err.println("stopping: no new requests; running ones have " + shutdownGrace + " s to finish");
        err.flush();
        server.shutdown(Duration.ofSeconds(shutdownGrace));
        engine.close(); // frees the weights and backend memory
        err.println("stopped");
        err.flush();
        return 0;
    }
}
