package dev.panamadiffusion.pipeline;

/** Told after every denoising step of a generation; runs on the generating thread, so keep it short. */
@FunctionalInterface
public interface ProgressListener {
    /** Step {@code step} (1-based) of {@code steps} is done. */
    void onStep(int step, int steps);

    /**
     * The generation has begun: the prompts are encoded and the starting latents drawn (an init image encoded), and
     * {@code steps} denoising steps follow. Called once, before the first {@link #onStep}.
     */
    default void onBegun(int steps) {}

    /** A listener that ignores everything. */
    ProgressListener NONE = (step, steps) -> {};
}
