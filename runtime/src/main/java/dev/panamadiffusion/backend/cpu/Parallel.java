package dev.panamadiffusion.backend.cpu;

import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import java.util.function.IntConsumer;
import dev.panamadiffusion.backend.Abort;

/**
 * A fixed pool of worker threads running loops of independent tasks. The calling thread takes part, so
 * {@code threads} is the total parallelism; tasks are handed out one at a time from a shared counter.
 * Loops must not nest: a task never calls {@link #forEach} on the same pool. A loop started inside
 * {@link Abort#when} stops with a {@link java.util.concurrent.CancellationException} before its next task once the
 * caller's condition holds.
 */
final class Parallel implements AutoCloseable {
    private final int threads;
    private final Thread[] workers;
    private final java.util.concurrent.LinkedBlockingQueue<Runnable> queue = new java.util.concurrent.LinkedBlockingQueue<>();
    private volatile boolean closed;

    Parallel(int threads) {
        if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        this.threads = threads;
        this.workers = new Thread[threads - 1];
        ThreadFactory factory = Thread.ofPlatform().daemon(true).name("pd-cpu-", 0).factory();
        for (int i = 0; i < workers.length; i++) {
            workers[i] = factory.newThread(this::work);
            workers[i].start();
        }
    }

    int threads() { return threads; }

    /** Whether the pool's threads may read {@code segment} (not so for memory confined to another thread). */
    boolean canRead(java.lang.foreign.MemorySegment segment) {
        return workers.length == 0 || segment.isAccessibleBy(workers[0]);
    }

    private void work() {
        while (!closed) {
            try {
                queue.take().run();
            } catch (InterruptedException e) {
                if (closed) return;
            }
        }
    }

    /** Runs {@code body.accept(i)} for every i in [0, n), in parallel; returns when all are done. */
    void forEach(int n, IntConsumer body) {
        if (closed) throw new IllegalStateException("the CPU backend is closed");
        if (n <= 0) return;
        BooleanSupplier stop = Abort.current(); // the caller's: checked before every task
        if (n == 1 || workers.length == 0) {
            for (int i = 0; i < n; i++) {
                Abort.check(stop);
                body.accept(i);
            }
            return;
        }
        Loop loop = new Loop(n, body, Thread.currentThread(), stop);
        int helpers = Math.min(workers.length, n - 1);
        loop.pending.set(helpers + 1);
        for (int i = 0; i < helpers; i++) queue.add(loop);
        loop.run();
        while (loop.pending.get() != 0) LockSupport.park(loop);
        Throwable t = loop.failure.get();
        if (t instanceof RuntimeException re) throw re;
        if (t instanceof Error err) throw err;
        if (t != null) throw new IllegalStateException(t);
    }

    /** Runs {@code body.accept(start, end)} over [0, n) split into chunks of about {@code grain}. */
    void forRange(long n, long grain, RangeBody body) {
        if (n <= 0) return;
        long chunk = Math.max(grain, 1);
        int tasks = (int) Math.min(Integer.MAX_VALUE, (n + chunk - 1) / chunk);
        forEach(tasks, i -> body.run(i * chunk, Math.min(n, (i + 1) * chunk)));
    }

    @FunctionalInterface
    interface RangeBody {
        void run(long start, long end);
    }

    private static final class Loop implements Runnable {
        final int n;
        final IntConsumer body;
        final Thread owner;
        final AtomicInteger next = new AtomicInteger();
        final AtomicInteger pending = new AtomicInteger();
        final AtomicReference<Throwable> failure = new AtomicReference<>();
        final BooleanSupplier stop;

        Loop(int n, IntConsumer body, Thread owner, BooleanSupplier stop) {
            this.n = n;
            this.body = body;
            this.owner = owner;
            this.stop = stop;
        }

        @Override
        public void run() {
            try {
                for (int i; (i = next.getAndIncrement()) < n; ) {
                    if (failure.get() != null) break;
                    Abort.check(stop);
                    body.accept(i);
                }
            } catch (Throwable t) {
                failure.compareAndSet(null, t);
            } finally {
                if (pending.decrementAndGet() == 0) LockSupport.unpark(owner);
            }
        }
    }

    @Override
    public void close() {
        closed = true;
        for (Thread w : workers) w.interrupt();
    }
}
