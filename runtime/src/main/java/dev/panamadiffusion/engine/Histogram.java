package dev.panamadiffusion.engine;

import java.util.Locale;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.DoubleAdder;
import java.util.concurrent.atomic.LongAdder;

/** A Prometheus histogram with fixed upper bounds; thread-safe. */
public final class Histogram {
    private final String name;
    private final String help;
    private final double[] bounds;
    private final AtomicLongArray counts;
    private final DoubleAdder sum = new DoubleAdder();
    private final LongAdder count = new LongAdder();

    public Histogram(String name, String help, double... bounds) {
        this.name = name;
        this.help = help;
        this.bounds = bounds.clone();
        this.counts = new AtomicLongArray(bounds.length);
    }

    public void observe(double v) {
        for (int i = 0; i < bounds.length; i++) {
            if (v <= bounds[i]) counts.incrementAndGet(i);
        }
        sum.add(v);
        count.increment();
    }

    public long count() { return count.sum(); }

    /** The smallest bucket bound below which at least {@code q} of the observations fall (+Inf when beyond all). */
    public double quantileUpperBound(double q) {
        long n = count();
        if (n == 0) return 0;
        for (int i = 0; i < bounds.length; i++) {
            if (counts.get(i) >= q * n) return bounds[i];
        }
        return Double.POSITIVE_INFINITY;
    }

    public void writePrometheus(StringBuilder out) {
        out.append("# HELP ").append(name).append(' ').append(help).append('\n');
        out.append("# TYPE ").append(name).append(" histogram\n");
        for (int i = 0; i < bounds.length; i++) {
            out.append(name).append("_bucket{le=\"").append(fmt(bounds[i])).append("\"} ").append(counts.get(i)).append('\n');
        }
        out.append(name).append("_bucket{le=\"+Inf\"} ").append(count.sum()).append('\n');
        out.append(name).append("_sum ").append(fmt(sum.sum())).append('\n');
        out.append(name).append("_count ").append(count.sum()).append('\n');
    }

    static String fmt(double v) {
        return String.format(Locale.ROOT, "%s", v);
    }
}
