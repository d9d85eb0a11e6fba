package dev.panamadiffusion.pipeline;

import java.util.concurrent.CancellationException;

/**
 * Asks a running generation to stop. The pipeline checks it between denoising steps, between the UNet's blocks within a step
 * (on backends that run ops eagerly: the CPU) and before decoding, and throws {@link CancellationException} when it has
 * been cancelled.
 */
public final class CancellationToken {
    private volatile boolean cancelled;

    /** A fresh token that nobody has cancelled. */
    public static CancellationToken none() { return new CancellationToken(); }

    public void cancel() { cancelled = true; }

    public boolean isCancelled() { return cancelled; }

    /** Throws {@link CancellationException} naming {@code where} if {@link #cancel()} was called. */
    public void throwIfCancelled(String where) {
        if (cancelled) throw new CancellationException("generation cancelled " + where);
    }
}
