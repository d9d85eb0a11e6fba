package dev.panamadiffusion.backend;

import java.util.concurrent.CancellationException;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * A cooperative stop for long backend work on the calling thread: {@link #when} runs a body with a condition that
 * backends whose ops run as they are called (the CPU backend) check between the tasks of their parallel loops, so that a
 * cancelled request stops within milliseconds even inside one large op (an attention over 4096 tokens takes seconds on
 * a CPU). Checking is one read per task; without a condition nothing is checked.
 */
public final class Abort {
    private static final BooleanSupplier NEVER = () -> false;
    private static final ThreadLocal<BooleanSupplier> CURRENT = new ThreadLocal<>();

    private Abort() {}

    /** Runs {@code body} on this thread; backend loops it starts throw {@link CancellationException} once {@code stop} is true. */
    public static <T> T when(BooleanSupplier stop, Supplier<T> body) {
        BooleanSupplier previous = CURRENT.get();
        CURRENT.set(stop);
        try {
            return body.get();
        } finally {
            if (previous == null) CURRENT.remove();
            else CURRENT.set(previous);
        }
    }

    /** This thread's condition (never true outside {@link #when}). */
    public static BooleanSupplier current() {
        BooleanSupplier s = CURRENT.get();
        return s == null ? NEVER : s;
    }

    /** Throws {@link CancellationException} when {@code stop} is true. */
    public static void check(BooleanSupplier stop) {
        if (stop != NEVER && stop.getAsBoolean()) throw new CancellationException("generation cancelled during a UNet step");
    }
}
