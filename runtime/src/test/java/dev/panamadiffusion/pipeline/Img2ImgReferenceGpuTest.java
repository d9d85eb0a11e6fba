package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.cuda.CudaBackend;
import dev.panamadiffusion.cuda.CudaProbe;
import dev.panamadiffusion.cuda.CudaStatus;
import dev.panamadiffusion.image.ImageFiles;
import dev.panamadiffusion.image.Rgb8Image;
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
 * {@link Img2ImgReferenceTest}'s replay of diffusers' image to image on the CUDA backend (NVIDIA's driver, or the CUDA
 * emulator): the VAE encoder, the noised start and every step, at an f16 bound (2e-2 relative, max |diff| / max |ref|).
 */
@Tag("gpu")
class Img2ImgReferenceGpuTest {
    private static final double F16_TOLERANCE = 2e-2;

    @Test
    void matchesDiffusersOnCuda() throws IOException {
        CudaStatus s = CudaProbe.probe();
        assumeTrue(s.available(), s.message());
        Path tiny = Path.of(System.getProperty("pd.reference"), "tiny");
        Path set = Path.of(System.getProperty("pd.home", "..")).resolve("reference/img2img");
        Rgb8Image image = ImageFiles.readRgb(set.resolve("init.png"));
        try (Arena arena = Arena.ofShared(); CudaBackend backend = new CudaBackend(1L << 30)) {
            UNet2DConditionModel unet = UNet2DConditionModel.load(tiny.resolve("unet"), backend, arena);
            AutoencoderKL vae = AutoencoderKL.load(tiny.resolve("vae"), backend, arena);
            for (String file : List.of("img2img_ddim_s0.75.safetensors", "img2img_euler_s0.4.safetensors",
                    "img2img_dpmpp2m_s0.75.safetensors", "img2img_euler_a_s0.5_b2.safetensors")) {
                double[] worst = {0};
                List<String> failures = Img2ImgReferenceTest.replay(backend, unet, vae, image, file, F16_TOLERANCE, worst);
                System.out.printf("[gpu] %s on %s: worst relative error %.3g%n", file, backend.name(), worst[0]);
                assertTrue(failures.isEmpty(), file + ": " + failures);
            }
        }
    }
}
