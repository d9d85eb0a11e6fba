package dev.panamadiffusion.cli;

import dev.panamadiffusion.pipeline.ProgressListener;

import java.io.PrintWriter;
import java.util.Locale;

/** {@code sampling [#########...........] 9/20  1.52 s/it} on one line of standard error, redrawn after every step. */
final class ProgressBar implements ProgressListener {
    private static final int WIDTH = 30;
    private final PrintWriter err;
    private final String label;
    private long start;

    ProgressBar(PrintWriter err, String label) {
        this.err = err;
        this.label = label;
    }

    /** Marks the start of sampling (the rate counts from here). */
    void begin() {
        start = System.nanoTime();
    }

    /** The prompts are encoded: the rate counts the denoising steps alone from here. */
    @Override
    public void onBegun(int steps) {
        begin();
    }

    @Override
    public void onStep(int step, int steps) {
        if (start == 0) begin();
        double perStep = (System.nanoTime() - start) / 1e9 / step;
        int filled = (int) ((long) WIDTH * step / steps);
        String bar = "#".repeat(filled) + ".".repeat(WIDTH - filled);
        err.print(String.format(Locale.ROOT, "\r%s [%s] %d/%d  %.2f s/it", label, bar, step, steps, perStep));
        if (step == steps) err.println();
        err.flush();
    }
}
