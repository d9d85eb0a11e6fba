package dev.panamadiffusion.cuda;

import dev.panamadiffusion.backend.OutOfDeviceMemoryException;
import dev.panamadiffusion.tensor.DType;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * A full arena: the CUDA backend's allocations beyond its arena are an {@link OutOfDeviceMemoryException} with the
 * numbers (not a generic CUDA failure), and {@link CudaBackend#reclaimDeviceMemory()} gives back at once what nothing
 * references any more.
 */
@Tag("gpu")
class DeviceArenaGpuTest {

    @Test
    void aFullArenaIsOutOfDeviceMemoryAndReclaimGivesItBack() {
        CudaStatus s = CudaProbe.probe();
        assumeTrue(s.available(), s.message());
        try (CudaBackend cuda = new CudaBackend(64L << 20)) {
            long start = cuda.reclaimDeviceMemory();
            Tensor block = Tensor.allocate(DType.F16, 4, 1024, 1024);  // 8 MiB on the device
            List<Tensor> held = new ArrayList<>();
            OutOfDeviceMemoryException e = assertThrows(OutOfDeviceMemoryException.class, () -> {
                for (int i = 0; i < 16; i++) held.add(cuda.upload(block));
            });
            assertEquals(8L << 20, e.requestedBytes());
            assertTrue(e.freeBytes() < 8L << 20, e.getMessage());
            assertEquals(cuda.deviceBytesCapacity(), e.capacityBytes());
            assertTrue(e.getMessage().startsWith("the device arena is full: 8.0 MiB requested, the largest free block is "),
                    e.getMessage());
            assertTrue(held.size() >= 5 && held.size() < 8, held.size() + " blocks of 8 MiB fit in 64 MiB with the workspace");
            assertTrue(cuda.deviceBytesInUse() >= start + held.size() * (8L << 20));
            held.clear();
            assertEquals(start, cuda.reclaimDeviceMemory(), "the dropped tensors' blocks are back");
            assertEquals(start, cuda.deviceBytesInUse());
            cuda.upload(block);  // and usable again
        }
    }
}
