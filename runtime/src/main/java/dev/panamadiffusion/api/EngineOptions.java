package dev.panamadiffusion.api;

import dev.panamadiffusion.lora.LoraSpec;

import java.nio.file.Path;
import java.util.List;

/**
 * How an engine is set up.
 *
 * @param modelDir      a diffusers Stable Diffusion folder
 * @param backend       "cpu", "cuda" or "auto"
 * @param maxBatch      most UNet rows per step across requests (a guided image takes two: unconditional and
 *                      conditional); a single request larger than this still runs, alone
 * @param queueCapacity requests that may wait beyond those running; more are refused ({@link EngineBusyException})
 * @param maxSide       largest width or height accepted, in pixels
 * @param maxSteps      most steps a request may ask for
 * @param maxCount      most images one request may ask for
 * @param loras         LoRAs merged into the model when it loads, in order (see {@link DiffusionEngine#setLoras})
 */
public record EngineOptions(Path modelDir, String backend, int maxBatch, int queueCapacity, int maxSide, int maxSteps, int maxCount,
                            List<LoraSpec> loras) {
    public EngineOptions {
        if (modelDir == null) throw new IllegalArgumentException("modelDir is required");
        loras = loras == null ? List.of() : List.copyOf(loras);
        if (maxBatch < 1) throw new IllegalArgumentException("maxBatch must be at least 1");
        if (queueCapacity < 1) throw new IllegalArgumentException("queueCapacity must be at least 1");
        if (maxSide < 8 || maxSteps < 1 || maxCount < 1) throw new IllegalArgumentException("limits must be positive");
    }

    /** Without LoRAs. */
    public EngineOptions(Path modelDir, String backend, int maxBatch, int queueCapacity, int maxSide, int maxSteps, int maxCount) {
        this(modelDir, backend, maxBatch, queueCapacity, maxSide, maxSteps, maxCount, List.of());
    }

    /** Auto backend, 8 rows per step, 32 waiting requests, sides up to 2048, 150 steps, 8 images per request. */
    public static EngineOptions defaults(Path modelDir) {
        return new EngineOptions(modelDir, "auto", 8, 32, 2048, 150, 8);
    }

    public EngineOptions withMaxBatch(int n) {
        return new EngineOptions(modelDir, backend, n, queueCapacity, maxSide, maxSteps, maxCount, loras);
    }

    public EngineOptions withQueueCapacity(int n) {
        return new EngineOptions(modelDir, backend, maxBatch, n, maxSide, maxSteps, maxCount, loras);
    }

    public EngineOptions withBackend(String name) {
        return new EngineOptions(modelDir, name, maxBatch, queueCapacity, maxSide, maxSteps, maxCount, loras);
    }

    public EngineOptions withLimits(int side, int steps, int count) {
        return new EngineOptions(modelDir, backend, maxBatch, queueCapacity, side, steps, count, loras);
    }

    /** These options with {@code specs} as the LoRAs applied on load. */
    public EngineOptions withLoras(List<LoraSpec> specs) {
        return new EngineOptions(modelDir, backend, maxBatch, queueCapacity, maxSide, maxSteps, maxCount, specs);
    }
}
