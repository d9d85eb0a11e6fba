package dev.panamadiffusion.api;

/** Where a request stands: {@code stepsDone} of {@code totalSteps} denoising steps. */
public record Progress(State state, int stepsDone, int totalSteps, double elapsedSeconds) {
    public enum State { QUEUED, RUNNING, DECODING, DONE, CANCELLED, FAILED }

    public double fraction() { return totalSteps == 0 ? 0 : (double) stepsDone / totalSteps; }

    /** Remaining seconds extrapolated from the rate so far (0 when unknown). */
    public double etaSeconds() {
        return stepsDone == 0 ? 0 : elapsedSeconds / stepsDone * (totalSteps - stepsDone);
    }
}
