package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.backend.cpu.CpuBackend;
import dev.panamadiffusion.image.ImageFiles;
import dev.panamadiffusion.image.Rgb8Image;
import dev.panamadiffusion.models.unet.UNet2DConditionModel;
import dev.panamadiffusion.models.vae.AutoencoderKL;
import dev.panamadiffusion.schedulers.SchedulerConfig;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * What the inpainting tests share: the repository's {@code reference/inpaint} set (its picture, mask and scheduler
 * configs) and the shared reference's tiny UNet and VAE on a 2-thread CPU backend. Open in {@code @BeforeAll}, close
 * in {@code @AfterAll}.
 */
record InpaintSet(Path dir, Arena arena, Backend backend, UNet2DConditionModel unet, AutoencoderKL vae, Rgb8Image image,
                  Rgb8Image mask) implements AutoCloseable {
    static final Path DIR = Path.of(System.getProperty("pd.home", "..")).resolve("reference/inpaint");

    static InpaintSet open() {
        if (!Files.isDirectory(DIR)) throw new IllegalStateException("missing " + DIR + " (-Dpd.home)");
        Path tiny = Path.of(System.getProperty("pd.reference"), "tiny");
        Arena arena = Arena.ofShared();
        Backend backend = new CpuBackend(2);
        try {
            return new InpaintSet(DIR, arena, backend, UNet2DConditionModel.load(tiny.resolve("unet"), backend, arena),
                    AutoencoderKL.load(tiny.resolve("vae"), backend, arena), ImageFiles.readRgb(DIR.resolve("init.png")),
                    ImageFiles.readRgb(DIR.resolve("mask.png")));
        } catch (IOException e) {
            backend.close();
            arena.close();
            throw new UncheckedIOException(e);
        }
    }

    /** A pipeline of the tiny UNet and VAE with the set's {@code scheduler_<name>} config; the caller closes it. */
    StableDiffusionPipeline pipeline(String scheduler) {
        SchedulerConfig config = SchedulerConfig.read(dir.resolve("scheduler_" + scheduler).resolve("scheduler_config.json"));
        return StableDiffusionPipeline.fromComponents(backend, unet, UNetRunner.create(unet, backend), vae, config, scheduler);
    }

    @Override
    public void close() {
        backend.close();
        arena.close();
    }
}
