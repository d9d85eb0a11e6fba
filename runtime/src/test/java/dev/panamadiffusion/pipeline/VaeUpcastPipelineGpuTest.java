package dev.panamadiffusion.pipeline;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.panamadiffusion.backend.cpu.CpuBackend;
import dev.panamadiffusion.cuda.CudaBackend;
import dev.panamadiffusion.cuda.CudaProbe;
import dev.panamadiffusion.cuda.CudaStatus;
import dev.panamadiffusion.image.Images;
import dev.panamadiffusion.models.Reference;
import dev.panamadiffusion.models.vae.DiagonalGaussianDistribution;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.verify.ReferenceModelFolder;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Which VAE a pipeline on the CUDA backend upcasts, told apart by precision against the same pipeline on the CPU
 * (max |diff| / max |cpu|: f32 ≤ 1e-4, f16 about 1e-3): reference/sdxl (force_upcast true) decodes and encodes in
 * f32; the same folder with force_upcast false, and an SD 1.x folder whose VAE says force_upcast true (which
 * StableDiffusionPipeline ignores), in f16. Skipped without a GPU (NVIDIA's driver or the CUDA emulator).
 */
@Tag("gpu")
class VaeUpcastPipelineGpuTest {
    private static final double F32_BOUND = 1e-4;
    private static CudaBackend cuda;
    private static CpuBackend cpu;

    @BeforeAll
    static void start() {
        CudaStatus s = CudaProbe.probe();
        assumeTrue(s.available(), s.message());
        cuda = new CudaBackend(1L << 30);
        cpu = new CpuBackend(2);
    }

    @AfterAll
    static void stop() {
        if (cuda != null) cuda.close();
        if (cpu != null) cpu.close();
    }

    static Path sdxl() { return Path.of(System.getProperty("pd.home", "..")).resolve("reference/sdxl"); }

    /** {decode error, encode-mean error} of {@code model} on CUDA against the CPU, for random latents and pixels. */
    private static double[] errors(Path model) {
        try (StableDiffusionPipeline onCpu = StableDiffusionPipeline.load(model, cpu);
             StableDiffusionPipeline onCuda = StableDiffusionPipeline.load(model, cuda)) {
            SplittableRandom r = new SplittableRandom(5);
            int side = onCpu.defaultSize(), latent = side / onCpu.sizeRule().vaeScaleFactor();
            Tensor latents = random(r, 0.5, 1, 4, latent, latent);                 // [1, 4, h, w] (scaled)
            Tensor pixels = random(r, 1.0, 1, 3, side, side);                      // [1, 3, H, W] in [-1, 1]
            double decode = relativeError(onCuda.decode(latents), onCpu.decode(latents));
            DiagonalGaussianDistribution e = onCpu.encode(pixels), g = onCuda.encode(pixels);
            double encode = relativeError(g.mean(), e.mean());
            System.out.printf("[gpu] %s VAE on CUDA vs CPU: decode %.3g, encode %.3g%n", model.getFileName(), decode, encode);
            return new double[] {decode, encode};
        }
    }

    private static Tensor random(SplittableRandom r, double amplitude, long... shape) {
        float[] v = new float[Math.toIntExact(Tensor.numel(shape))];
        for (int i = 0; i < v.length; i++) v[i] = (float) (amplitude * (2 * r.nextDouble() - 1));
        return Tensor.fromFloats(v, shape);
    }

    private static double relativeError(Tensor got, Tensor expected) {
        float[] g = got.toFloatArray(), e = expected.toFloatArray();
        double diff = 0, scale = 0;
        for (int i = 0; i < e.length; i++) {
            diff = Math.max(diff, Float.isFinite(g[i]) ? Math.abs(g[i] - e[i]) : Double.POSITIVE_INFINITY);
            scale = Math.max(scale, Math.abs(e[i]));
        }
        return diff / scale;
    }

    @Test
    void sdxlWithForceUpcastRunsItsVaeInF32() {
        double[] err = errors(sdxl());
        assertTrue(err[0] <= F32_BOUND, "SDXL decode error " + err[0] + ": not upcast");
        assertTrue(err[1] <= F32_BOUND, "SDXL encode error " + err[1] + ": not upcast");
    }

    @Test
    void sdxlWithoutForceUpcastRunsItsVaeInF16(@TempDir Path tmp) throws IOException {
        Path model = tmp.resolve("sdxl-fp16-vae");
        ReferenceModelFolder.copyDir(sdxl(), model);
        Path config = model.resolve("vae/config.json");
        ObjectMapper json = new ObjectMapper();
        ObjectNode c = (ObjectNode) json.readTree(config.toFile());
        c.put("force_upcast", false);
        Files.writeString(config, c.toPrettyString());
        double[] err = errors(model);
        assertTrue(err[0] > F32_BOUND && err[0] < 2e-2, "decode error " + err[0] + " is not f16's");
        assertTrue(err[1] > F32_BOUND && err[1] < 2e-2, "encode error " + err[1] + " is not f16's");
    }

    @Test
    void sd1PipelinesNeverUpcast(@TempDir Path tmp) throws IOException {
        Path model = ReferenceModelFolder.assemble(Reference.tiny().getParent(), tmp.resolve("tiny"), "ddim",
                ReferenceModelFolder.Tokenizer.TINY_BPE);
        assertTrue(Files.readString(model.resolve("vae/config.json")).contains("\"force_upcast\": true"));
        double[] err = errors(model);
        assertTrue(err[0] > F32_BOUND && err[0] < 2e-2, "decode error " + err[0] + " is not f16's");
    }

    /** The decoded pictures of the upcast VAE are the CPU's, pixel for pixel (8-bit). */
    @Test
    void upcastPicturesAreTheCpusPictures() {
        try (StableDiffusionPipeline onCpu = StableDiffusionPipeline.load(sdxl(), cpu);
             StableDiffusionPipeline onCuda = StableDiffusionPipeline.load(sdxl(), cuda)) {
            Tensor latents = random(new SplittableRandom(9), 0.5, 1, 4, 8, 8);
            Tensor a = Latents.denormalize(onCpu.decode(latents)), b = Latents.denormalize(onCuda.decode(latents));
            int differ = 0;
            byte[] pa = Images.toRgb8(a, 0).rgb(), pb = Images.toRgb8(b, 0).rgb();
            for (int i = 0; i < pa.length; i++) if (pa[i] != pb[i]) differ++;
            assertTrue(differ <= 2, differ + " of " + pa.length + " channel values differ");
        }
    }
}
