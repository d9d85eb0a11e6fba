package dev.panamadiffusion.backend;

/**
 * A backend whose tensors live in device memory of a fixed size (the CUDA backend's arena): how much is held, and a
 * way to get back at once what nothing references any more. Device blocks of unreachable tensors otherwise return
 * lazily, after a garbage collection; after an {@link OutOfDeviceMemoryException} the engine calls
 * {@link #reclaimDeviceMemory()} so that the failed request's memory is free before anyone is told it failed.
 */
public interface DeviceMemory {
    /** Bytes held now: weights, live tensors, scratch, recorded graphs (and unreachable tensors not yet collected). */
    long deviceBytesInUse();

    /** Bytes this backend can hold in all. */
    long deviceBytesCapacity();

    /** Frees the device memory of tensors nothing references any more; returns {@link #deviceBytesInUse()} after. */
    long reclaimDeviceMemory();
}
