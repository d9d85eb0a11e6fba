package dev.panamadiffusion.engine;

import dev.panamadiffusion.backend.DeviceMemory;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.IntSupplier;

/** What the engine counts, written as Prometheus text. */
public final class EngineMetrics {
    final Histogram requestSeconds = new Histogram("pd_request_seconds", "Time from submit to the last image of a request.",
            0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500);
    final Histogram queueSeconds = new Histogram("pd_queue_seconds", "Time a request waited before its first step.",
            0.01, 0.05, 0.1, 0.5, 1, 5, 10, 50, 100);
    final Histogram stepSeconds = new Histogram("pd_unet_step_seconds", "Time of one batched UNet step.",
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50);
    final Histogram batchRows = new Histogram("pd_unet_batch_rows", "UNet rows (images x guidance passes) per step.",
            1, 2, 4, 8, 16, 32, 64);
    final AtomicLong stepsTotal = new AtomicLong();
    final AtomicLong imageStepsTotal = new AtomicLong();
    final AtomicLong imagesTotal = new AtomicLong();
    final AtomicLong requestsTotal = new AtomicLong();
    final AtomicLong requestsFailed = new AtomicLong();
    final AtomicLong requestsCancelled = new AtomicLong();
    final AtomicLong requestsRejected = new AtomicLong();
    final AtomicLong requestsOutOfDeviceMemory = new AtomicLong();
    final AtomicInteger activeImages = new AtomicInteger();
    private final long startNanos = System.nanoTime();
    private final IntSupplier queueDepth;
    private final DeviceMemory device;  // null on a host-memory backend

    EngineMetrics(IntSupplier queueDepth, DeviceMemory device) {
        this.queueDepth = queueDepth;
        this.device = device;
    }

    public Histogram requestSeconds() { return requestSeconds; }

    public void writePrometheus(StringBuilder out) {
        gauge(out, "pd_queue_depth", "Requests waiting to start.", queueDepth.getAsInt());
        gauge(out, "pd_active_images", "Images being denoised now.", activeImages.get());
        counter(out, "pd_unet_steps_total", "Batched UNet steps run.", stepsTotal.get());
        counter(out, "pd_image_steps_total", "Per-image denoising steps run.", imageStepsTotal.get());
        counter(out, "pd_images_total", "Images finished.", imagesTotal.get());
        counter(out, "pd_requests_total", "Requests accepted.", requestsTotal.get());
        counter(out, "pd_requests_failed_total", "Requests that failed.", requestsFailed.get());
        counter(out, "pd_requests_cancelled_total", "Requests cancelled.", requestsCancelled.get());
        counter(out, "pd_requests_rejected_total", "Requests refused because the queue was full.", requestsRejected.get());
        counter(out, "pd_requests_out_of_device_memory_total", "Requests that failed because the device ran out of memory.",
                requestsOutOfDeviceMemory.get());
        if (device != null) {
            gauge(out, "pd_device_memory_used_bytes", "Device memory held: weights, running requests, recorded graphs.",
                    device.deviceBytesInUse());
            gauge(out, "pd_device_memory_capacity_bytes", "Device memory the backend holds in all (its arena).",
                    device.deviceBytesCapacity());
        }
        double up = (System.nanoTime() - startNanos) / 1e9;
        gauge(out, "pd_image_steps_per_second", "Per-image steps per second since start.", up > 0 ? imageStepsTotal.get() / up : 0);
        requestSeconds.writePrometheus(out);
        queueSeconds.writePrometheus(out);
        stepSeconds.writePrometheus(out);
        batchRows.writePrometheus(out);
    }

    static void gauge(StringBuilder out, String name, String help, double v) {
        out.append("# HELP ").append(name).append(' ').append(help).append('\n');
        out.append("# TYPE ").append(name).append(" gauge\n").append(name).append(' ').append(Histogram.fmt(v)).append('\n');
    }

    static void counter(StringBuilder out, String name, String help, long v) {
        out.append("# HELP ").append(name).append(' ').append(help).append('\n');
        out.append("# TYPE ").append(name).append(" counter\n").append(name).append(' ').append(v).append('\n');
    }
}
