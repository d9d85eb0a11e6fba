package dev.panamadiffusion.cli;

/**
 * SIGTERM and SIGINT as a request to stop, so that {@code serve} can finish its requests and exit with code 0 (a JVM
 * that lets them end it runs its shutdown hooks and exits with 143 or 130). Uses {@code sun.misc.Signal} (module
 * {@code jdk.unsupported}, present in every JDK); where a signal cannot be handled the JVM's default stays.
 */
final class Signals {
    private Signals() {}

    /** Runs {@code action} (once per signal) on SIGTERM or SIGINT instead of exiting. */
    @SuppressWarnings("removal")
    static void onTermination(Runnable action) {
        for (String name : new String[] {"TERM", "INT"}) {
            try {
                sun.misc.Signal.handle(new sun.misc.Signal(name), s -> action.run());
            } catch (IllegalArgumentException | UnsupportedOperationException e) {
                // the JVM's default handling stays (exit 143/130 after the shutdown hooks)
            }
        }
    }
}
