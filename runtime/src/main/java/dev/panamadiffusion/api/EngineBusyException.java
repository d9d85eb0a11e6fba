package dev.panamadiffusion.api;

/** The engine's queue is full: try again after {@link #retryAfterSeconds()}. */
public class EngineBusyException extends RuntimeException {
    private final int retryAfterSeconds;

    public EngineBusyException(int queued, int retryAfterSeconds) {
        super("queue full (" + queued + " requests waiting); retry after " + retryAfterSeconds + " s");
        this.retryAfterSeconds = retryAfterSeconds;
    }

    public int retryAfterSeconds() { return retryAfterSeconds; }
}
