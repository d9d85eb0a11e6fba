package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.backend.DeviceMemory;
import dev.panamadiffusion.backend.OutOfDeviceMemoryException;
import dev.panamadiffusion.models.NaiveBackend;
import org.junit.jupiter.api.Test;

import java.lang.reflect.Proxy;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** DeviceMemoryRecovery: the work's result, or its out-of-device-memory failure after the device memory is reclaimed. */
class DeviceMemoryRecoveryTest {
    /** A backend with device memory that only counts reclaims. */
    private static Backend deviceBackend(AtomicInteger reclaims) {
        return (Backend) Proxy.newProxyInstance(DeviceMemoryRecoveryTest.class.getClassLoader(),
                new Class<?>[] {Backend.class, DeviceMemory.class}, (proxy, method, args) -> {
                    if (method.getName().equals("reclaimDeviceMemory")) {
                        reclaims.incrementAndGet();
                        return 0L;
                    }
                    throw new UnsupportedOperationException(method.getName());
                });
    }

    @Test
    void aFailureIsReclaimedThenRethrownSayingWhat() {
        AtomicInteger reclaims = new AtomicInteger();
        Backend b = deviceBackend(reclaims);
        OutOfDeviceMemoryException cause = new OutOfDeviceMemoryException("arena full", 100, 10, 1000);
        OutOfDeviceMemoryException e = assertThrows(OutOfDeviceMemoryException.class,
                () -> DeviceMemoryRecovery.run(b, "loading the UNet", () -> { throw cause; }));
        assertEquals("out of device memory loading the UNet: arena full", e.getMessage());
        assertSame(cause, e.getCause());
        assertEquals(100, e.requestedBytes());
        assertEquals(1, reclaims.get(), "the memory is reclaimed before the failure is told");
        assertEquals("ok", DeviceMemoryRecovery.run(b, "x", () -> "ok"));
        assertEquals(1, reclaims.get(), "nothing to reclaim after success");
        DeviceMemoryRecovery.reclaim(b);
        assertEquals(2, reclaims.get());
        DeviceMemoryRecovery.reclaim(new NaiveBackend());   // host memory: nothing to do
    }

    @Test
    void requestsAreNamedByCountAndSize() {
        GenerationRequest one = GenerationRequest.of("x").withSize(256, 128);
        assertEquals("a 256x128 image", DeviceMemoryRecovery.images(one));
        assertEquals("4 256x128 images", DeviceMemoryRecovery.images(one.withBatchSize(4)));
    }
}
