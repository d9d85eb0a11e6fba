package dev.panamadiffusion.engine;

import dev.panamadiffusion.api.Generation;
import dev.panamadiffusion.api.Progress;
import dev.panamadiffusion.pipeline.CancellationToken;
import dev.panamadiffusion.pipeline.Denoising;
import dev.panamadiffusion.pipeline.GenerationRequest;
import dev.panamadiffusion.pipeline.GenerationResult;
import dev.panamadiffusion.pipeline.InitImage;
import dev.panamadiffusion.pipeline.ProgressListener;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;

/** A request inside the engine: its denoising state once started, progress, future and cancellation flag. */
final class RequestState implements Generation {
    final long id;
    final GenerationRequest request;
    final InitImage init;             // image to image's picture and strength, or null
    final ProgressListener listener;
    final long submittedNanos = System.nanoTime();
    final CompletableFuture<GenerationResult> future = new CompletableFuture<>();
    final CancellationToken token = new CancellationToken();
    private volatile Progress.State state = Progress.State.QUEUED;
    private volatile int stepsDone;
    private volatile int totalSteps;
    volatile long startedNanos;
    Denoising denoising; // engine thread only

    RequestState(long id, GenerationRequest request, InitImage init, ProgressListener listener) {
        this.id = id;
        this.request = request;
        this.init = init;
        this.listener = listener == null ? ProgressListener.NONE : listener;
        this.totalSteps = request.steps();
    }

    @Override public long id() { return id; }

    @Override public GenerationRequest request() { return request; }

    @Override public CompletableFuture<GenerationResult> result() { return future; }

    @Override public void cancel() { token.cancel(); }

    boolean cancelled() { return token.isCancelled(); }

    @Override
    public Progress progress() {
        long start = startedNanos;
        double elapsed = start == 0 ? 0 : (System.nanoTime() - start) / 1e9;
        return new Progress(state, stepsDone, totalSteps, elapsed);
    }

    void started(Denoising d) {
        denoising = d;
        d.cancelWith(token);
        totalSteps = d.totalSteps();
        startedNanos = System.nanoTime();
        state = Progress.State.RUNNING;
    }

    void stepped() {
        stepsDone = denoising.stepsDone();
        try {
            listener.onStep(stepsDone, totalSteps);
        } catch (RuntimeException ignored) {
            // a listener's failure must not break the batch
        }
    }

    void decoding() { state = Progress.State.DECODING; }

    /** Drops the denoising state (its tensors) before the request is failed, so that their memory can be reclaimed first. */
    void release() { denoising = null; }

    void complete(GenerationResult result) {
        state = Progress.State.DONE;
        denoising = null;
        future.complete(result);
    }

    void fail(Throwable t) {
        state = t instanceof CancellationException ? Progress.State.CANCELLED : Progress.State.FAILED;
        denoising = null;
        future.completeExceptionally(t);
    }
}
