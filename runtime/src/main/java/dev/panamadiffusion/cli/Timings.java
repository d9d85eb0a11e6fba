package dev.panamadiffusion.cli;

import dev.panamadiffusion.pipeline.ProgressListener;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The phases of one {@code generate} run, timed with {@link System#nanoTime()} ({@code --timings}): loading the model,
 * beginning the generation (prompt encoding, starting latents, an init image's encoding), every denoising step, the
 * decode (VAE and conversion to pictures) and writing the PNGs. Passes the steps on to {@code next} (the progress bar).
 * Printed as one {@code key=seconds} line, for people and for bench/peer-sdcpp.sh.
 */
final class Timings implements ProgressListener {
    private final ProgressListener next;
    private final long start = System.nanoTime();
    private long loaded, generating, begun, decoded, written;
    private final List<Long> steps = new ArrayList<>();

    Timings(ProgressListener next) {
        this.next = next;
    }

    /** The model is loaded (weights mapped, backend ready). */
    void loaded() { loaded = System.nanoTime(); }

    /** {@code generate} is called. */
    void generating() { generating = System.nanoTime(); }

    @Override
    public void onBegun(int total) {
        begun = System.nanoTime();
        next.onBegun(total);
    }

    @Override
    public void onStep(int step, int total) {
        steps.add(System.nanoTime());
        next.onStep(step, total);
    }

    /** {@code generate} returned: the latents are decoded into pictures. */
    void decoded() { decoded = System.nanoTime(); }

    /** The PNGs are written. */
    void written() { written = System.nanoTime(); }

    /**
     * {@code timings: load=… begin=… first_step=… step_mean=… step_min=… step_max=… decode=… png=… total=…} (seconds;
     * the step statistics over the steps after the first, absent with one step).
     */
    String line() {
        StringBuilder b = new StringBuilder("timings:");
        put(b, "load", loaded - start);
        put(b, "begin", begun - generating);
        long prev = begun;
        List<Long> later = new ArrayList<>();
        for (int i = 0; i < steps.size(); i++) {
            long d = steps.get(i) - prev;
            if (i == 0) put(b, "first_step", d);
            else later.add(d);
            prev = steps.get(i);
        }
        if (!later.isEmpty()) {
            put(b, "step_mean", (long) later.stream().mapToLong(Long::longValue).average().orElse(0));
            put(b, "step_min", later.stream().mapToLong(Long::longValue).min().orElse(0));
            put(b, "step_max", later.stream().mapToLong(Long::longValue).max().orElse(0));
        }
        put(b, "decode", decoded - prev);
        put(b, "png", written - decoded);
        put(b, "total", written - start);
        return b.toString();
    }

    private static void put(StringBuilder b, String key, long nanos) {
        b.append(String.format(Locale.ROOT, " %s=%.3f", key, nanos / 1e9));
    }
}
