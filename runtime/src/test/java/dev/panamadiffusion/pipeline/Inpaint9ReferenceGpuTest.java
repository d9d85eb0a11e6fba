package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.cuda.CudaBackend;
import dev.panamadiffusion.cuda.CudaProbe;
import dev.panamadiffusion.cuda.CudaStatus;
import dev.panamadiffusion.models.unet.UNet2DConditionModel;
import dev.panamadiffusion.models.vae.AutoencoderKL;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@link Inpaint9ReferenceTest}'s replay of diffusers' 9-channel inpainting on the CUDA backend (NVIDIA's driver, or the
 * CUDA emulator): the 9-channel UNet input, every step and the image, at an f16 bound (2e-2 relative).
 */
@Tag("gpu")
class Inpaint9ReferenceGpuTest {
    private static final double F16_TOLERANCE = 2e-2;

    @Test
    void matchesDiffusersOnCuda() throws IOException {
        CudaStatus s = CudaProbe.probe();
        assumeTrue(s.available(), s.message());
        Path tiny = Path.of(System.getProperty("pd.reference"), "tiny");
        try (Arena arena = Arena.ofShared(); CudaBackend backend = new CudaBackend(1L << 30)) {
            UNet2DConditionModel unet = UNet2DConditionModel.load(Inpaint9ReferenceTest.SET.resolve("unet"), backend, arena);
            AutoencoderKL vae = AutoencoderKL.load(tiny.resolve("vae"), backend, arena);
            for (String name : List.of("inpaint_ddim_s0.75", "inpaint_euler_a_s0.75_b2")) {
                double[] worst = {0};
                List<String> failures = Inpaint9ReferenceTest.replay(backend, unet, vae, name, F16_TOLERANCE, worst);
                System.out.printf("[gpu] %s on %s: worst relative error %.3g%n", name, backend.name(), worst[0]);
                assertTrue(failures.isEmpty(), name + ": " + failures);
            }
        }
    }
}
