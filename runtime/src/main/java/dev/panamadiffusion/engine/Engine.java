package dev.panamadiffusion.engine;

import dev.panamadiffusion.api.EngineBusyException;
import dev.panamadiffusion.api.EngineOptions;
import dev.panamadiffusion.api.Generation;
import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.backend.DeviceMemory;
import dev.panamadiffusion.pipeline.DeviceMemoryRecovery;
import dev.panamadiffusion.pipeline.GenerationRequest;
import dev.panamadiffusion.pipeline.InitImage;
import dev.panamadiffusion.pipeline.InvalidRequestException;
import dev.panamadiffusion.pipeline.ProgressListener;
import dev.panamadiffusion.pipeline.RequestLimits;
import dev.panamadiffusion.pipeline.StableDiffusionPipeline;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The engine behind {@link dev.panamadiffusion.api.DiffusionEngine}: validation on the caller's thread, a bounded
 * queue, and one engine thread that does all backend work ({@link BatchLoop}).
 */
public final class Engine implements AutoCloseable {
    private final EngineOptions options;
    private final Backend backend;
    private final StableDiffusionPipeline pipeline;
    private final BlockingQueue<RequestState> queue;
    private final EngineMetrics metrics;
    private final BatchLoop loop;
    private final Thread thread;
    private final AtomicLong ids = new AtomicLong();
    private volatile boolean closed;

    public Engine(EngineOptions options, Backend backend) {
        this.options = options;
        this.backend = backend;
        try {
            this.pipeline = StableDiffusionPipeline.load(options.modelDir(), backend, options.limits());
            try {
                pipeline.vaeTiling(options.vaeTiling());
                if (!options.loras().isEmpty()) pipeline.setLoras(options.loras());
            } catch (RuntimeException e) {
                pipeline.close();
                throw e;
            }
        } catch (RuntimeException e) {
            backend.close();
            throw e;
        }
        DeviceMemoryRecovery.reclaim(backend); // what loading left unreferenced: the memory in use is the model's
        this.queue = new ArrayBlockingQueue<>(options.queueCapacity());
        this.metrics = new EngineMetrics(queue::size, backend instanceof DeviceMemory m ? m : null);
        this.loop = new BatchLoop(pipeline, queue, metrics, options.maxBatch());
        this.thread = Thread.ofPlatform().name("pd-engine").daemon(true).start(loop);
    }

    public EngineOptions options() { return options; }

    public String modelName() { return pipeline.modelName(); }

    public String backendName() { return backend.name(); }

    public int sizeMultiple() { return pipeline.sizeRule().multiple(); }

    public EngineMetrics metrics() { return metrics; }

    /** Replaces the model's LoRAs ({@link StableDiffusionPipeline#setLoras}), between two denoising steps. */
    public void setLoras(List<dev.panamadiffusion.lora.LoraSpec> specs) { pipeline.setLoras(specs); }

    /** The LoRAs applied now. */
    public List<dev.panamadiffusion.lora.LoraSpec> loras() { return pipeline.loras(); }

    public int queued() { return queue.size(); }

    /** Bytes of device memory the backend holds now ({@link DeviceMemory}), or -1 on a host-memory backend. */
    public long deviceBytesInUse() { return backend instanceof DeviceMemory m ? m.deviceBytesInUse() : -1; }

    public List<? extends Generation> running() { return loop.running(); }

    public Generation submit(GenerationRequest request, ProgressListener listener) {
        return submit(request, null, listener);
    }

    /**
     * Queues {@code request}, as image to image from {@code init} when not null: a request without a size (0 × 0)
     * takes the image's, and the strength and the image's size are checked with the other fields.
     */
    public Generation submit(GenerationRequest request, InitImage init, ProgressListener listener) {
        if (closed) throw new IllegalStateException("engine is closed");
        GenerationRequest r = validate(withImageSize(request, init));
        InvalidRequestException.Problem noMask = pipeline.maskProblem(init);
        if (noMask != null) throw new InvalidRequestException(List.of(noMask));
        if (init != null) {
            List<InvalidRequestException.Problem> problems = init.problems(r.steps(), r.width(), r.height());
            if (!problems.isEmpty()) throw new InvalidRequestException(problems);
        }
        RequestState state = new RequestState(ids.incrementAndGet(), r, init, listener);
        if (!queue.offer(state)) {
            metrics.requestsRejected.incrementAndGet();
            throw new EngineBusyException(queue.size(), retryAfterSeconds());
        }
        metrics.requestsTotal.incrementAndGet();
        return state;
    }

    /** {@code request} with the init image's size when it gives none (0 × 0). */
    public static GenerationRequest withImageSize(GenerationRequest request, InitImage init) {
        if (init == null || request.width() != 0 || request.height() != 0) return request;
        return request.withSize(init.image().width(), init.image().height());
    }

    /** Seconds a refused client should wait: about one request's time at the current pace. */
    private int retryAfterSeconds() {
        double p50 = metrics.requestSeconds.quantileUpperBound(0.5);
        return (int) Math.max(1, Math.min(600, Double.isInfinite(p50) ? 60 : Math.ceil(p50)));
    }

    /** What the loaded model allows (sizes, its own size, text encoder layers). */
    public RequestLimits.Model modelLimits() { return pipeline.modelLimits(); }

    /** The guidance scale a request gets when it names none: the model family's, as diffusers' pipelines default. */
    public double defaultGuidance() { return pipeline.defaultGuidance(); }

    /**
     * Every field of {@code r}, run {@code iterations} times (A1111's {@code n_iter}), against the model and this
     * engine's {@link RequestLimits} (all problems in one {@link InvalidRequestException}), and the step count against
     * the sampler.
     */
    public void check(GenerationRequest r, int iterations) {
        options.limits().check(r, iterations, pipeline.modelLimits());
        pipeline.scheduler(r); // a step count the sampler cannot take is the client's mistake, found before queueing
    }

    /** {@link #check} for one iteration; resolves the model's default size and a random seed, so that the request as served is reproducible. */
    GenerationRequest validate(GenerationRequest r) {
        check(r, 1);
        return pipeline.resolve(r);
    }

    /** Cancels every running and waiting request (their futures complete with a CancellationException). */
    public void cancelAll() {
        for (RequestState r : queue) r.cancel();
        for (Generation g : loop.running()) g.cancel();
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        loop.stop();
        try {
            thread.join(120_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        pipeline.close();
        backend.close();
    }
}
