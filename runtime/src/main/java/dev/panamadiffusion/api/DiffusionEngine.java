package dev.panamadiffusion.api;

import dev.panamadiffusion.engine.Engine;
import dev.panamadiffusion.pipeline.BackendFactory;
import dev.panamadiffusion.pipeline.GenerationRequest;
import dev.panamadiffusion.pipeline.ProgressListener;
import dev.panamadiffusion.pipeline.RequestLimits;
import java.util.List;

/**
 * A Stable Diffusion model loaded once and shared by many concurrent requests (thread-safe). Requests of the same
 * size join one UNet batch at step boundaries (continuous batching), each with its own prompt, guidance, sampler
 * and seed. {@link #close()} cancels what is pending and frees native memory (weights, backend buffers).
 */
public final class DiffusionEngine implements AutoCloseable {
    private final Engine engine;

    private DiffusionEngine(Engine engine) {
        this.engine = engine;
    }

    /**
     * Loads the model of {@code options} onto its backend. Weights that the backend's device memory cannot hold are a
     * {@link dev.panamadiffusion.backend.OutOfDeviceMemoryException}, thrown after the backend (and all device memory
     * it took) is released. A request that runs out of device memory later fails alone (with the requests that shared
     * its UNet batch) with that exception as its cause; its memory is freed first and the engine goes on serving.
     */
    public static DiffusionEngine open(EngineOptions options) {
        return new DiffusionEngine(new Engine(options, BackendFactory.create(options.backend(), options.weights(), System.err::println)));
    }

    /**
     * Queues {@code request}. Invalid fields (against the model and {@link EngineOptions#limits()}) throw
     * {@link dev.panamadiffusion.pipeline.InvalidRequestException}; a full queue throws {@link EngineBusyException}.
     * {@code listener} is called on the engine thread after every step.
     */
    public Generation submit(GenerationRequest request, ProgressListener listener) {
        return engine.submit(request, listener);
    }

    public Generation submit(GenerationRequest request) {
        return submit(request, ProgressListener.NONE);
    }

    /**
     * Queues image to image from {@code init} ({@link dev.panamadiffusion.pipeline.InitImage}): a request without a size
     * (0 × 0) takes the image's; a bad strength or an image of another size is an
     * {@link dev.panamadiffusion.pipeline.InvalidRequestException} like any other field.
     */
    public Generation submit(GenerationRequest request, dev.panamadiffusion.pipeline.InitImage init, ProgressListener listener) {
        return engine.submit(request, init, listener);
    }

    /**
     * Checks {@code request}, to be run {@code iterations} times as A1111's {@code n_iter} (seeds
     * {@code seed + i · batchSize}), against the model and {@link EngineOptions#limits()} without queueing it: every bad
     * field in one {@link dev.panamadiffusion.pipeline.InvalidRequestException}.
     */
    public void check(GenerationRequest request, int iterations) {
        engine.check(request, iterations);
    }

    /** What the loaded model allows: the sizes it makes, its own size (what a width or height of 0 means), its text encoder's layers. */
    public RequestLimits.Model modelLimits() { return engine.modelLimits(); }

    /** Requests being denoised now, oldest first. */
    public List<? extends Generation> running() { return engine.running(); }

    /** Cancels every running and waiting request (what a server does at its shutdown deadline). */
    public void cancelAll() { engine.cancelAll(); }

    /**
     * Bytes of device memory the backend holds now (weights, running requests, recorded CUDA graphs), or -1 on the
     * CPU backend; also {@code pd_device_memory_used_bytes} in {@link #prometheusMetrics()}.
     */
    public long deviceBytesInUse() { return engine.deviceBytesInUse(); }

    /** Requests waiting to start. */
    public int queued() { return engine.queued(); }

    public String modelName() { return engine.modelName(); }

    /**
     * The guidance scale for requests that name none, as diffusers' pipeline for this model family defaults: 5 for SDXL
     * ({@code StableDiffusionXLPipeline}), 7.5 otherwise.
     */
    public double defaultGuidance() { return engine.defaultGuidance(); }

    /**
     * Makes {@code specs} the LoRAs the model generates with (none: removes all, restoring the loaded weights bit for
     * bit) without reloading it. Takes effect between two denoising steps, so generations already running finish with
     * the new weights; a LoRA that does not fit the model is a {@link dev.panamadiffusion.lora.LoraException} and the
     * LoRAs applied before stay.
     */
    public void setLoras(List<dev.panamadiffusion.lora.LoraSpec> specs) { engine.setLoras(specs); }

    /** The LoRAs applied now. */
    public List<dev.panamadiffusion.lora.LoraSpec> loras() { return engine.loras(); }

    public String backendName() { return engine.backendName(); }

    /** The engine's limits, for clients that want to check a request before sending it. */
    public EngineOptions options() { return engine.options(); }

    /** Pixel sizes must be multiples of this for this model. */
    public int sizeMultiple() { return engine.sizeMultiple(); }

    /** Engine metrics in the Prometheus text format. */
    public String prometheusMetrics() {
        StringBuilder sb = new StringBuilder();
        engine.metrics().writePrometheus(sb);
        return sb.toString();
    }

    @Override
    public void close() { engine.close(); }
}
