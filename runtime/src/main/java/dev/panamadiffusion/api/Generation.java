package dev.panamadiffusion.api;

import dev.panamadiffusion.pipeline.GenerationRequest;
import dev.panamadiffusion.pipeline.GenerationResult;
import java.util.concurrent.CompletableFuture;

/** A submitted request: its future result, its progress, and cancellation (effective at the next step boundary). */
public interface Generation {
    long id();

    /** The request as the engine serves it (a random seed resolved). */
    GenerationRequest request();

    CompletableFuture<GenerationResult> result();

    Progress progress();

    /** Asks the engine to drop this request; its future then completes with a CancellationException. */
    void cancel();
}
