package dev.panamadiffusion.engine;

import dev.panamadiffusion.backend.OutOfDeviceMemoryException;
import dev.panamadiffusion.pipeline.Denoising;
import dev.panamadiffusion.pipeline.DeviceMemoryRecovery;
import dev.panamadiffusion.pipeline.GenerationResult;
import dev.panamadiffusion.pipeline.StableDiffusionPipeline;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/**
 * The engine thread: continuous batching at step boundaries. Each iteration admits waiting requests while the active
 * set has room (at most {@code 2 × maxBatch} UNet rows in flight), drops cancelled ones, takes the oldest active
 * request's latent size and runs one UNet call for every active request of that size that fits in {@code maxBatch}
 * rows, then decodes the requests that finished. Each request keeps its own prompt, guidance, scheduler and noise.
 *
 * <p>A request that runs out of device memory ({@link OutOfDeviceMemoryException}: while encoding its prompt, in a UNet
 * step, or while decoding) fails, with every request of the UNet batch it was in; before they are failed, their
 * tensors and the recorded graphs are released ({@link StableDiffusionPipeline#releaseDeviceMemory()}), so the next
 * request that fits runs.
 */
final class BatchLoop implements Runnable {
    private final StableDiffusionPipeline pipeline;
    private final BlockingQueue<RequestState> queue;
    private final EngineMetrics metrics;
    private final int maxBatch;
    private final int maxActiveRows;
    private final List<RequestState> active = new CopyOnWriteArrayList<>();
    private volatile boolean running = true;

    BatchLoop(StableDiffusionPipeline pipeline, BlockingQueue<RequestState> queue, EngineMetrics metrics, int maxBatch) {
        this.pipeline = pipeline;
        this.queue = queue;
        this.metrics = metrics;
        this.maxBatch = maxBatch;
        this.maxActiveRows = 2 * maxBatch;
    }

    void stop() { running = false; }

    /** Requests being denoised, oldest first. */
    List<RequestState> running() { return List.copyOf(active); }

    @Override
    public void run() {
        while (running) {
            try {
                admit();
                dropCancelled();
                List<RequestState> group = nextGroup();
                if (!group.isEmpty()) stepGroup(group);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            } catch (RuntimeException | Error e) {
                // never let the engine thread die: fail what is active and go on
                failAll(new IllegalStateException("engine step failed: " + e, e), false);
            }
        }
        failAll(new CancellationException("engine closed"), true);
    }

    private int activeRows() {
        int rows = 0;
        for (RequestState r : active) rows += r.denoising.rows();
        return rows;
    }

    private void admit() throws InterruptedException {
        if (active.isEmpty()) {
            RequestState first = queue.poll(100, TimeUnit.MILLISECONDS);
            if (first == null) return;
            start(first);
        }
        while (true) {
            RequestState next = queue.peek();
            if (next == null) return;
            int rows = next.request.batchSize() * (next.request.usesGuidance() ? 2 : 1);
            if (!active.isEmpty() && activeRows() + rows > maxActiveRows) return;
            if (queue.remove(next)) start(next);
        }
    }

    private void start(RequestState r) {
        if (r.cancelled()) {
            metrics.requestsCancelled.incrementAndGet();
            r.fail(new CancellationException("request " + r.id + " cancelled before it started"));
            return;
        }
        try {
            metrics.queueSeconds.observe((System.nanoTime() - r.submittedNanos) / 1e9);
            Denoising d = pipeline.begin(r.request, r.init == null ? dev.panamadiffusion.pipeline.PipelineInputs.NONE
                    : dev.panamadiffusion.pipeline.PipelineInputs.of(r.init)); // text encoding and initial (or image) latents
            r.started(d);
            active.add(r);
            metrics.activeImages.addAndGet(r.request.batchSize());
        } catch (OutOfDeviceMemoryException e) {
            metrics.requestsFailed.incrementAndGet();
            pipeline.releaseDeviceMemory();
            r.fail(outOfMemory(r, e, 0));
        } catch (RuntimeException e) {
            metrics.requestsFailed.incrementAndGet();
            r.fail(e);
        }
    }

    /** {@code e} saying which request ran out and how many others shared its UNet batch. */
    private OutOfDeviceMemoryException outOfMemory(RequestState r, OutOfDeviceMemoryException e, int others) {
        metrics.requestsOutOfDeviceMemory.incrementAndGet();
        String with = others == 0 ? "" : " (in one UNet batch with " + others + " other request" + (others == 1 ? "" : "s") + ")";
        return new OutOfDeviceMemoryException("out of device memory generating " + DeviceMemoryRecovery.images(r.request) + with, e);
    }

    private void dropCancelled() {
        for (RequestState r : active) {
            if (!r.cancelled()) continue;
            remove(r);
            metrics.requestsCancelled.incrementAndGet();
            r.fail(new CancellationException("request " + r.id + " cancelled"));
        }
    }

    private void remove(RequestState r) {
        if (active.remove(r)) metrics.activeImages.addAndGet(-r.request.batchSize());
    }

    /** The oldest active request and the others of its latent size, in age order, while they fit in maxBatch rows. */
    private List<RequestState> nextGroup() {
        List<RequestState> group = new ArrayList<>();
        int rows = 0;
        Denoising first = null;
        for (RequestState r : active) {
            Denoising d = r.denoising;
            if (first == null) first = d;
            else if (!d.sameLatentShape(first)) continue;
            if (!group.isEmpty() && rows + d.rows() > maxBatch) continue;
            group.add(r);
            rows += d.rows();
        }
        return group;
    }

    private void stepGroup(List<RequestState> group) {
        long t0 = System.nanoTime();
        List<Denoising> states = new ArrayList<>(group.size());
        int rows = 0;
        for (RequestState r : group) {
            states.add(r.denoising);
            rows += r.denoising.rows();
        }
        try {
            pipeline.step(states);
        } catch (OutOfDeviceMemoryException e) {
            states.clear();
            for (RequestState r : group) {
                remove(r);
                r.release();
            }
            pipeline.releaseDeviceMemory(); // before anyone hears of it: the memory is back when the answer goes out
            for (RequestState r : group) {
                metrics.requestsFailed.incrementAndGet();
                r.fail(outOfMemory(r, e, group.size() - 1));
            }
            return;
        } catch (RuntimeException e) {
            for (RequestState r : group) { // a CancellationException: every request of the group was cancelled mid-step
                remove(r);
                if (e instanceof CancellationException) metrics.requestsCancelled.incrementAndGet();
                else metrics.requestsFailed.incrementAndGet();
                r.fail(e);
            }
            return;
        }
        metrics.stepSeconds.observe((System.nanoTime() - t0) / 1e9);
        metrics.batchRows.observe(rows);
        metrics.stepsTotal.incrementAndGet();
        for (RequestState r : group) {
            metrics.imageStepsTotal.addAndGet(r.request.batchSize());
            r.stepped();
            if (r.denoising.finished()) finish(r);
        }
    }

    private void finish(RequestState r) {
        remove(r);
        if (r.cancelled()) {
            metrics.requestsCancelled.incrementAndGet();
            r.fail(new CancellationException("request " + r.id + " cancelled"));
            return;
        }
        try {
            r.decoding();
            GenerationResult result = pipeline.finish(r.denoising);
            metrics.imagesTotal.addAndGet(result.size());
            metrics.requestSeconds.observe((System.nanoTime() - r.submittedNanos) / 1e9);
            r.complete(result);
        } catch (OutOfDeviceMemoryException e) {
            metrics.requestsFailed.incrementAndGet();
            r.release();
            pipeline.releaseDeviceMemory();
            r.fail(outOfMemory(r, e, 0));
        } catch (RuntimeException e) {
            metrics.requestsFailed.incrementAndGet();
            r.fail(e);
        }
    }

    private void failAll(RuntimeException e, boolean includeQueued) {
        for (RequestState r : List.copyOf(active)) {
            remove(r);
            if (e instanceof CancellationException) metrics.requestsCancelled.incrementAndGet();
            else metrics.requestsFailed.incrementAndGet();
            r.fail(e);
        }
        if (!includeQueued) return;
        RequestState q;
        while ((q = queue.poll()) != null) q.fail(e);
    }
}
