package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.cuda.CudaBackend;
import dev.panamadiffusion.cuda.CudaProbe;
import dev.panamadiffusion.cuda.CudaStatus;
import dev.panamadiffusion.verify.CheckResult;
import dev.panamadiffusion.verify.Tolerances;
import dev.panamadiffusion.verify.Verifier;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@code pdiff verify reference/sdxl-refiner} on the CUDA backend (NVIDIA's driver, or the CUDA emulator) at the f16
 * tolerances: text_encoder_2, the UNet with the refiner's 5 time ids, the VAE, the image-to-image runs of the folder and
 * of its single-file twin.
 */
@Tag("gpu")
class SdxlRefinerReferenceGpuTest {
    @Test
    void verifyPassesOnCuda() {
        CudaStatus s = CudaProbe.probe();
        assumeTrue(s.available(), s.message());
        try (CudaBackend backend = new CudaBackend(1L << 30)) {
            List<CheckResult> results = new Verifier(backend, Tolerances.f16()).runAll(SdxlRefinerPipelineTest.set());
            for (CheckResult r : results) System.out.println("[gpu] " + r.name() + ": " + r.maxRelErr() + " " + r.passed());
            for (CheckResult r : results) assertTrue(r.passed(), r.name() + ": " + r.detail());
            assertTrue(results.stream().anyMatch(r -> r.name().equals("single-file/img2img_euler_s0.6 image_01")), "the file's run");
        }
    }
}
