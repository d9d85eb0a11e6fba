package dev.panamadiffusion.api;

import dev.panamadiffusion.backend.WeightPrecision;
import dev.panamadiffusion.lora.LoraSpec;
import dev.panamadiffusion.pipeline.RequestLimits;
import dev.panamadiffusion.pipeline.VaeTiling;

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
 * @param limits        what a request may ask for (steps, images, size, prompt length, …): every limit in one place
 * @param loras         LoRAs merged into the model when it loads, in order (see {@link DiffusionEngine#setLoras})
 * @param vaeTiling     when the VAE decodes and encodes in tiles (null: {@link VaeTiling#AUTO})
 * @param weights       how the CPU backend stores its weights (null: its default, f32 or {@code -Dpd.cpu.weights});
 *                      anything but f32 is refused by a CUDA backend
 */
public record EngineOptions(Path modelDir, String backend, int maxBatch, int queueCapacity, RequestLimits limits,
                            List<LoraSpec> loras, VaeTiling vaeTiling, WeightPrecision weights) {
    public EngineOptions {
        if (modelDir == null) throw new IllegalArgumentException("modelDir is required");
        loras = loras == null ? List.of() : List.copyOf(loras);
        if (vaeTiling == null) vaeTiling = VaeTiling.AUTO;
        if (maxBatch < 1) throw new IllegalArgumentException("maxBatch must be at least 1");
        if (queueCapacity < 1) throw new IllegalArgumentException("queueCapacity must be at least 1");
        if (limits == null) throw new IllegalArgumentException("limits are required");
    }

    /** Without LoRAs. */
    public EngineOptions(Path modelDir, String backend, int maxBatch, int queueCapacity, RequestLimits limits) {
        this(modelDir, backend, maxBatch, queueCapacity, limits, List.of());
    }

    /** With the backend's default weight precision. */
    public EngineOptions(Path modelDir, String backend, int maxBatch, int queueCapacity, RequestLimits limits,
                         List<LoraSpec> loras, VaeTiling vaeTiling) {
        this(modelDir, backend, maxBatch, queueCapacity, limits, loras, vaeTiling, null);
    }

    /** With the default VAE tiling ({@link VaeTiling#AUTO}). */
    public EngineOptions(Path modelDir, String backend, int maxBatch, int queueCapacity, RequestLimits limits,
                         List<LoraSpec> loras) {
        this(modelDir, backend, maxBatch, queueCapacity, limits, loras, VaeTiling.AUTO);
    }

    /** Auto backend, 8 rows per step, 32 waiting requests, {@link RequestLimits#SERVER} (150 steps, 8 images, sides to 2048, …). */
    public static EngineOptions defaults(Path modelDir) {
        return new EngineOptions(modelDir, "auto", 8, 32, RequestLimits.SERVER);
    }

    public EngineOptions withMaxBatch(int n) {
        return new EngineOptions(modelDir, backend, n, queueCapacity, limits, loras, vaeTiling, weights);
    }

    public EngineOptions withQueueCapacity(int n) {
        return new EngineOptions(modelDir, backend, maxBatch, n, limits, loras, vaeTiling, weights);
    }

    public EngineOptions withBackend(String name) {
        return new EngineOptions(modelDir, name, maxBatch, queueCapacity, limits, loras, vaeTiling, weights);
    }

    public EngineOptions withLimits(RequestLimits l) {
        return new EngineOptions(modelDir, backend, maxBatch, queueCapacity, l, loras, vaeTiling, weights);
    }

    /** {@link #limits()} with the largest side, step count and images per request replaced. */
    public EngineOptions withLimits(int side, int steps, int count) {
        return withLimits(limits.withMaxSide(side).withMaxSteps(steps).withMaxBatch(count));
    }

    /** These options with {@code specs} as the LoRAs applied on load. */
    public EngineOptions withLoras(List<LoraSpec> specs) {
        return new EngineOptions(modelDir, backend, maxBatch, queueCapacity, limits, specs, vaeTiling, weights);
    }

    /** These options with {@code tiling} as the VAE's tiling policy ({@link VaeTiling}). */
    public EngineOptions withVaeTiling(VaeTiling tiling) {
        return new EngineOptions(modelDir, backend, maxBatch, queueCapacity, limits, loras, tiling, weights);
    }

    /** These options with the CPU backend's weights stored in {@code precision} (null: the backend's default). */
    public EngineOptions withWeights(WeightPrecision precision) {
        return new EngineOptions(modelDir, backend, maxBatch, queueCapacity, limits, loras, vaeTiling, precision);
    }
}
