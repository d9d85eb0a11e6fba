package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.backend.DeviceMemory;
import dev.panamadiffusion.backend.OutOfDeviceMemoryException;

import java.util.function.Supplier;

/**
 * What happens when a backend's device memory runs out ({@link OutOfDeviceMemoryException}): the failed work's tensors
 * are already unreachable once its frames have unwound, so their device blocks are reclaimed at once
 * ({@link DeviceMemory#reclaimDeviceMemory()}) and the exception is rethrown with what was being done in front of it.
 * The caller then sees the failure with the memory already back.
 */
public final class DeviceMemoryRecovery {
    private DeviceMemoryRecovery() {}

    /**
     * {@code work}'s result; when it runs out of device memory, the memory it took is reclaimed and the failure rethrown
     * as "out of device memory {@code doing}: …". {@code work} runs in its own frame, so nothing of it is still referenced
     * when the memory is reclaimed.
     */
    public static <T> T run(Backend backend, String doing, Supplier<T> work) {
        try {
            return work.get();
        } catch (OutOfDeviceMemoryException e) {
            reclaim(backend);
            throw new OutOfDeviceMemoryException("out of device memory " + doing, e);
        }
    }

    /** Returns unreachable tensors' device memory to {@code backend} now (nothing on a host-memory backend). */
    public static void reclaim(Backend backend) {
        if (backend instanceof DeviceMemory m) m.reclaimDeviceMemory();
    }

    /** "a 256x256 image" or "4 256x256 images" for messages. */
    public static String images(GenerationRequest r) {
        String size = r.width() + "x" + r.height();
        return r.batchSize() == 1 ? "a " + size + " image" : r.batchSize() + " " + size + " images";
    }
}
