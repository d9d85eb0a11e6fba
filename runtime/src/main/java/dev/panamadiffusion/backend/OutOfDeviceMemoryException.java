package dev.panamadiffusion.backend;

/**
 * A backend's device memory cannot hold what was asked of it: weights that do not fit (thrown while a model loads), or
 * a request's activations and recorded graphs (thrown while it runs). Nothing is wrong with the inputs: a smaller
 * request, fewer requests at once, or a device with more memory would succeed. The backend stays usable, and what the
 * failed work allocated returns to it ({@link DeviceMemory#reclaimDeviceMemory()}).
 */
public class OutOfDeviceMemoryException extends RuntimeException {
    private final long requestedBytes;
    private final long freeBytes;
    private final long capacityBytes;

    /**
     * @param requestedBytes the allocation that failed, or -1 when unknown
     * @param freeBytes      the largest allocation that would have succeeded then, or -1 when unknown
     * @param capacityBytes  the memory the backend had in all, or -1 when unknown
     */
    public OutOfDeviceMemoryException(String message, long requestedBytes, long freeBytes, long capacityBytes) {
        super(message);
        this.requestedBytes = requestedBytes;
        this.freeBytes = freeBytes;
        this.capacityBytes = capacityBytes;
    }

    /** {@code cause} with {@code context} (what was being done) in front of its message; the same numbers. */
    public OutOfDeviceMemoryException(String context, OutOfDeviceMemoryException cause) {
        super(context + ": " + cause.getMessage(), cause);
        this.requestedBytes = cause.requestedBytes;
        this.freeBytes = cause.freeBytes;
        this.capacityBytes = cause.capacityBytes;
    }

    /** The allocation that failed, in bytes; -1 when unknown. */
    public long requestedBytes() { return requestedBytes; }

    /** The largest allocation that would have succeeded, in bytes; -1 when unknown. */
    public long freeBytes() { return freeBytes; }

    /** The memory the backend had in all, in bytes; -1 when unknown. */
    public long capacityBytes() { return capacityBytes; }

    /** {@code bytes} for people: "512 B", "3.2 MiB", "1.50 GiB". */
    public static String describeBytes(long bytes) {
        if (bytes < 1024) return bytes + " B";
        if (bytes < 1L << 30) return String.format(java.util.Locale.ROOT, "%.1f MiB", bytes / (double) (1L << 20));
        return String.format(java.util.Locale.ROOT, "%.2f GiB", bytes / (double) (1L << 30));
    }
}
