package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.backend.WeightPrecision;
import dev.panamadiffusion.cuda.CudaProbe;
import dev.panamadiffusion.cuda.CudaStatus;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

/** BackendFactory's defaults: no name is auto, the one-argument form is the CPU by name, no weight precision is f32's. */
class BackendFactoryDefaultsTest {
    @Test
    void noNameIsAuto() {
        String why = BackendFactory.cudaUnavailableReason();
        List<String> log = new ArrayList<>();
        try (Backend b = BackendFactory.create(null, log::add)) {
            assertEquals(why == null ? "cuda" : "cpu", b.name());
            assertEquals(why == null ? 0 : 1, log.size(), log.toString());
        }
    }

    @Test
    void theOneArgumentFormMakesTheNamedBackend() {
        try (Backend b = BackendFactory.create("cpu")) {
            assertNotNull(b);
            assertEquals("cpu", b.name());
        }
    }

    @Test
    void noWeightPrecisionOrF32IsNeverRefused() {
        assertDoesNotThrow(() -> BackendFactory.refuseReducedWeights("cuda", null));
        assertDoesNotThrow(() -> BackendFactory.refuseReducedWeights("cuda", WeightPrecision.F32));
    }

    @Test
    void anUnusableDriverIsTheProbesReason() {
        CudaStatus status = CudaProbe.probe();
        if (!status.available()) assertEquals(status.message(), BackendFactory.cudaUnavailableReason());
    }
}
