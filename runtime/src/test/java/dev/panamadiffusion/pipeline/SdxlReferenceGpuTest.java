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
 * {@code pdiff verify reference/sdxl} on the CUDA backend (NVIDIA's driver, or the CUDA emulator) at the f16
 * tolerances: both text encoders, the UNet with SDXL's added embedding, the VAE, and both loops eagerly and through
 * recorded CUDA graphs (the added embedding is a graph input); and reference/sdxl-img2img's image-to-image and
 * inpainting runs.
 */
@Tag("gpu")
class SdxlReferenceGpuTest {
    @Test
    void verifyPassesOnCuda() {
        CudaStatus s = CudaProbe.probe();
        assumeTrue(s.available(), s.message());
        try (CudaBackend backend = new CudaBackend(1L << 30)) {
            List<CheckResult> results = new Verifier(backend, Tolerances.f16()).runAll(SdxlPipelineTest.set());
            for (CheckResult r : results) System.out.println("[gpu] " + r.name() + ": " + r.maxRelErr() + " " + r.passed());
            for (CheckResult r : results) assertTrue(r.passed(), r.name() + ": " + r.detail());
            assertTrue(results.stream().anyMatch(r -> r.name().contains("[cuda graph]")), "no CUDA graph replay ran");
            List<CheckResult> image = new Verifier(backend, Tolerances.f16()).runAll(SdxlPipelineTest.set().resolveSibling("sdxl-img2img"));
            for (CheckResult r : image) assertTrue(r.passed(), r.name() + ": " + r.detail());
            assertTrue(image.size() >= 24, image.size() + " checks");
        }
    }
}
