package dev.panamadiffusion.cli;

import dev.panamadiffusion.api.DiffusionEngine;
import dev.panamadiffusion.api.EngineOptions;
import dev.panamadiffusion.server.ImageServer;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code pdiff serve}: the HTTP image server (AUTOMATIC1111 and OpenAI APIs) over one loaded model. */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = "Serve a model over HTTP: /sdapi/v1/txt2img (AUTOMATIC1111), /v1/images/generations (OpenAI), /health, /metrics.")
public final class ServeCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, description = "Diffusers model folder.")
    Path model;

    @Option(names = "--port", defaultValue = "7860", description = "TCP port (0 picks a free one). Default: ${DEFAULT-VALUE}.")
    int port;

    @Option(names = "--host", defaultValue = "127.0.0.1", description = "Address to bind. Default: ${DEFAULT-VALUE}.")
    String host;

    @Option(names = "--backend", defaultValue = "auto", description = "cpu, cuda or auto. Default: ${DEFAULT-VALUE}.")
    String backend;

    @Option(names = "--max-batch", defaultValue = "8", description = "Most UNet rows per step across requests. Default: ${DEFAULT-VALUE}.")
    int maxBatch;

    @Option(names = "--queue", defaultValue = "32", description = "Requests that may wait; more get 429. Default: ${DEFAULT-VALUE}.")
    int queue;

    @Option(names = "--max-body", defaultValue = "65536", description = "Largest request body in bytes. Default: ${DEFAULT-VALUE}.")
    int maxBody;

    @Override
    public Integer call() throws Exception {
        if (!Files.isDirectory(model)) {
            System.err.println("error: model folder " + model + " does not exist");
            return 2;
        }
        EngineOptions options = EngineOptions.defaults(model).withBackend(backend).withMaxBatch(maxBatch).withQueueCapacity(queue);
        try (DiffusionEngine engine = DiffusionEngine.open(options);
             ImageServer server = ImageServer.start(engine, new InetSocketAddress(host, port), maxBody)) {
            System.err.printf("serving %s on http://%s:%d (backend %s, max batch %d, queue %d)%n",
                    engine.modelName(), host, server.port(), engine.backendName(), maxBatch, queue);
            CountDownLatch stop = new CountDownLatch(1);
            Runtime.getRuntime().addShutdownHook(new Thread(stop::countDown));
            stop.await();
        }
        return 0;
    }
}
