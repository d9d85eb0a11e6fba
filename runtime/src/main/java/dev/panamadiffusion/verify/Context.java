package dev.panamadiffusion.verify;

import dev.panamadiffusion.backend.Backend;

import java.util.function.Consumer;

/** What every check needs: the backend under test, the tolerances, where results go. */
record Context(Backend backend, Tolerances tolerances, Consumer<CheckResult> sink) {
    void report(CheckResult r) { sink.accept(r); }
}
