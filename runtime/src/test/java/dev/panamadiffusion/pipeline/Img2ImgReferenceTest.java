package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.backend.cpu.CpuBackend;
import dev.panamadiffusion.image.ImageFiles;
import dev.panamadiffusion.image.Rgb8Image;
import dev.panamadiffusion.io.SafeTensors;
import dev.panamadiffusion.models.vae.AutoencoderKL;
import dev.panamadiffusion.models.vae.DiagonalGaussianDistribution;
import dev.panamadiffusion.models.unet.UNet2DConditionModel;
import dev.panamadiffusion.rng.TorchCpuGenerator;
import dev.panamadiffusion.schedulers.Scheduler;
import dev.panamadiffusion.schedulers.SchedulerConfig;
import dev.panamadiffusion.schedulers.Schedulers;
import dev.panamadiffusion.tensor.DType;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Image to image against diffusers 0.27.2's {@code StableDiffusionImg2ImgPipeline} (the repository's
 * {@code reference/img2img}, tools/refgen/gen_img2img.py, on the tiny random-weight models): the preprocessed image,
 * the VAE posterior, the noised start latents (the posterior sample and the noise drawn by our torch-compatible
 * generator seeded as diffusers' was), the sliced schedule, every step's latents, the final latents and the decoded
 * image, through the production pipeline on the CPU backend, at 1e-4 relative (max |diff| / max |ref|).
 */
class Img2ImgReferenceTest {
    private static final double TOLERANCE = 1e-4;
    private static final Path SET = Path.of(System.getProperty("pd.home", "..")).resolve("reference/img2img");

    private static Arena arena;
    private static Backend backend;
    private static UNet2DConditionModel unet;
    private static AutoencoderKL vae;
    private static Rgb8Image image;

    @BeforeAll
    static void load() throws IOException {
        assertTrue(Files.isDirectory(SET), "missing " + SET + " (-Dpd.home)");
        String ref = System.getProperty("pd.reference");
        assertNotNull(ref, "-Dpd.reference");
        Path tiny = Path.of(ref, "tiny");
        arena = Arena.ofShared();
        backend = new CpuBackend(2);
        unet = UNet2DConditionModel.load(tiny.resolve("unet"), backend, arena);
        vae = AutoencoderKL.load(tiny.resolve("vae"), backend, arena);
        image = ImageFiles.readRgb(SET.resolve("init.png"));
    }

    @AfterAll
    static void close() {
        if (backend != null) backend.close();
        if (arena != null) arena.close();
    }

    static Stream<String> loops() throws IOException {
        try (Stream<Path> files = Files.list(SET)) {
            return files.map(p -> p.getFileName().toString()).filter(n -> n.startsWith("img2img_") && n.endsWith(".safetensors"))
                    .sorted().toList().stream();
        }
    }

    /** "img2img_dpmpp2m_karras_s0.6_b2.safetensors" → "dpmpp2m_karras". */
    private static String schedulerOf(String file) {
        String rest = file.substring("img2img_".length());
        return rest.substring(0, rest.lastIndexOf("_s"));
    }

    static double relError(Tensor actual, Tensor expected) {
        assertArrayEquals(expected.shape(), actual.shape(), "shape");
        float[] a = actual.toFloatArray(), e = expected.toFloatArray();
        double diff = 0, max = 0;
        for (int i = 0; i < e.length; i++) {
            diff = Math.max(diff, Math.abs(a[i] - e[i]));
            max = Math.max(max, Math.abs(e[i]));
        }
        return max == 0 ? diff : diff / max;
    }

    private static void within(List<String> failures, String what, Tensor actual, Tensor expected, double[] worst,
                               double tolerance) {
        double err = relError(actual, expected);
        worst[0] = Math.max(worst[0], err);
        if (!(err <= tolerance)) failures.add(what + ": " + err);
    }

    @ParameterizedTest
    @MethodSource("loops")
    void matchesDiffusers(String file) {
        double[] worst = {0};
        List<String> failures = replay(backend, unet, vae, image, file, TOLERANCE, worst);
        System.out.printf("%s: worst relative error %.3g%n", file, worst[0]);
        assertTrue(failures.isEmpty(), file + ": " + failures);
    }

    /**
     * The record {@code file} replayed through the pipeline on {@code backend}: what exceeds {@code tolerance} (relative),
     * the worst error in {@code worst[0]}.
     */
    static List<String> replay(Backend backend, UNet2DConditionModel unet, AutoencoderKL vae, Rgb8Image image, String file,
                               double tolerance, double[] worst) {
        Map<String, Tensor> f = SafeTensors.readAll(SET.resolve(file));
        String name = schedulerOf(file);
        SchedulerConfig config = SchedulerConfig.read(SET.resolve("scheduler_" + name).resolve("scheduler_config.json"));
        int steps = (int) f.get("num_inference_steps").getLong(0);
        // the file holds float32; its shortest decimal is the Python literal the generator passed (0.4, 0.75)
        double strength = Double.parseDouble(Float.toString(f.get("strength").getFloat(0)));
        float g = f.get("guidance_scale").getFloat(0);
        long seed = f.get("noise_seed").getLong(0);
        int batch = Math.toIntExact(f.get("noise").dim(0));
        List<String> failures = new ArrayList<>();
        try (StableDiffusionPipeline p = StableDiffusionPipeline.fromComponents(backend, unet, UNetRunner.create(unet, backend),
                vae, config, name)) {
            InitImage init = new InitImage(image, strength);
            assertEquals(0.0, relError(init.pixels(), f.get("init_image")), "VaeImageProcessor.preprocess");
            DiagonalGaussianDistribution posterior = p.encode(init.pixels());
            within(failures, "posterior mean", posterior.mean(), f.get("posterior_mean"), worst, tolerance);

            GenerationRequest r = new GenerationRequest("", "", steps, g, null, seed, 0, 0, batch, 0, RngKind.TORCH);
            Denoising d = p.begin(r, new PipelineInputs(f.get("cond_emb"), f.get("uncond_emb"), null, null, init));
            double[] sliced = Arrays.copyOfRange(d.scheduler().timesteps(), d.beginIndex(), d.scheduler().timesteps().length);
            float[] refT = f.get("timesteps").to(DType.F32).toFloatArray();
            assertEquals(refT.length, sliced.length, "steps that run");
            for (int i = 0; i < refT.length; i++) assertEquals(refT[i], sliced[i], 1e-3, "timestep " + i);
            assertEquals(refT.length, d.totalSteps());
            within(failures, "start latents", d.latents(), f.get("start_latents"), worst, tolerance);
            d.observe(step -> within(failures, "step " + step.index(), step.latents(), f.get("step" + step.index() + "_latents_out"), worst, tolerance));
            while (!d.finished()) p.step(List.of(d));
            within(failures, "final latents", d.latents(), f.get("final_latents"), worst, tolerance);
            within(failures, "image_raw", p.decode(d.latents()), f.get("image_raw"), worst, tolerance);
        }
        return failures;
    }

    /** Each scheduler's add_noise alone, on the recorded image latents and noise, after set_begin_index. */
    @ParameterizedTest
    @MethodSource("loops")
    void addNoiseAsDiffusers(String file) {
        Map<String, Tensor> f = SafeTensors.readAll(SET.resolve(file));
        String name = schedulerOf(file);
        Scheduler s = Schedulers.fromConfig(SchedulerConfig.read(SET.resolve("scheduler_" + name).resolve("scheduler_config.json")));
        int steps = (int) f.get("num_inference_steps").getLong(0);
        s.setTimesteps(steps);
        int begin = s.timesteps().length - Math.toIntExact(f.get("timesteps").numel());
        s.setBeginIndex(begin);
        Tensor noised = s.addNoise(f.get("image_latents"), f.get("noise"), begin);
        double err = relError(noised, f.get("start_latents"));
        assertTrue(err <= 1e-6, file + ": " + err);
    }

    /** The generator's draws in diffusers' order: the posterior sample (mean + std · ε) first, then the noise. */
    @Test
    void posteriorSampleThenNoise() {
        Map<String, Tensor> f = SafeTensors.readAll(SET.resolve("img2img_ddim_s0.75.safetensors"));
        TorchCpuGenerator g = new TorchCpuGenerator(f.get("noise_seed").getLong(0));
        try (StableDiffusionPipeline p = StableDiffusionPipeline.fromComponents(backend, unet, UNetRunner.create(unet, backend),
                vae, SchedulerConfig.sd15(), "DDIM")) {
            DiagonalGaussianDistribution posterior = p.encode(new InitImage(image, 1).pixels());
            assertTrue(relError(posterior.sample(g), f.get("posterior_sample")) <= TOLERANCE, "posterior sample");
        }
        assertEquals(0.0, relError(g.randn(f.get("noise").shape()), f.get("noise")), "noise");
    }
}
