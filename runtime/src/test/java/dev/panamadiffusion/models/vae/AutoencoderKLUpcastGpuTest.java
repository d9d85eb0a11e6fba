package dev.panamadiffusion.models.vae;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.backend.cpu.CpuBackend;
import dev.panamadiffusion.cuda.CudaBackend;
import dev.panamadiffusion.cuda.CudaProbe;
import dev.panamadiffusion.cuda.CudaStatus;
import dev.panamadiffusion.io.ModelFiles;
import dev.panamadiffusion.io.SafeTensors;
import dev.panamadiffusion.tensor.DType;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.weights.Weights;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * diffusers' {@code force_upcast} on the CUDA backend, with reference/sdxl's tiny SDXL VAE (force_upcast true): loaded
 * for an SDXL pipeline it runs in f32 and decodes and encodes as the CPU does to 1e-4 (max |diff| / max |cpu|), a bound
 * the f16 VAE misses; with a mid activation scaled past f16's range (65504) the f16 VAE draws NaN and the upcast one
 * the CPU's picture. Skipped without a GPU (NVIDIA's driver or the CUDA emulator).
 */
@Tag("gpu")
class AutoencoderKLUpcastGpuTest {
    static final double F32_BOUND = 1e-4;
    private static CudaBackend cuda;
    private static CpuBackend cpu;
    private static Arena arena;
    private static Map<String, Tensor> io;

    static Path sdxl() {
        Path p = Path.of(System.getProperty("pd.home", "..")).resolve("reference/sdxl");
        assertTrue(Files.isRegularFile(p.resolve("vae/config.json")), "reference/sdxl missing at " + p.toAbsolutePath());
        return p;
    }

    @BeforeAll
    static void start() {
        CudaStatus s = CudaProbe.probe();
        assumeTrue(s.available(), s.message());
        cuda = new CudaBackend(1L << 30);
        cpu = new CpuBackend(2);
        arena = Arena.ofShared();
        io = SafeTensors.open(sdxl().resolve("vae_io.safetensors"), arena).tensors();
    }

    @AfterAll
    static void stop() {
        if (cuda != null) cuda.close();
        if (cpu != null) cpu.close();
        if (arena != null) arena.close();
    }

    /** max |got − expected| / max |expected|; infinite when {@code got} has a NaN or infinity. */
    static double relativeError(Tensor got, Tensor expected) {
        float[] g = got.toFloatArray(), e = expected.toFloatArray();
        assertEquals(e.length, g.length);
        double diff = 0, scale = 0;
        for (int i = 0; i < e.length; i++) {
            if (!Float.isFinite(g[i])) return Double.POSITIVE_INFINITY;
            diff = Math.max(diff, Math.abs(g[i] - e[i]));
            scale = Math.max(scale, Math.abs(e[i]));
        }
        return diff / scale;
    }

    private static DType dtypeOf(AutoencoderKL vae) { return ((CudaBackend) vae.backend()).dtype(); }

    private static Tensor decode(AutoencoderKL vae, Tensor latents) {
        return vae.backend().download(vae.decode(latents));
    }

    @Test
    void onlyAnSdxlPipelineUpcastsAndOnlyWithForceUpcast() {
        AutoencoderKLConfig forced = AutoencoderKLConfig.read(sdxl().resolve("vae/config.json"));
        assertTrue(forced.forceUpcast());
        assertSame(cuda.float32(), AutoencoderKL.computeBackend(forced, cuda, true));
        assertSame(cuda, AutoencoderKL.computeBackend(forced, cuda, false));  // SD 1.x/2.x pipelines never upcast
        AutoencoderKLConfig fixed = new AutoencoderKLConfig(forced.inChannels(), forced.outChannels(), forced.downBlockTypes(),
                forced.upBlockTypes(), forced.blockOutChannels(), forced.layersPerBlock(), forced.actFn(),
                forced.latentChannels(), forced.normNumGroups(), forced.sampleSize(), forced.scalingFactor(), false,
                forced.useQuantConv(), forced.usePostQuantConv(), forced.midBlockAddAttention());
        assertFalse(fixed.forceUpcast());  // e.g. madebyollin/sdxl-vae-fp16-fix
        assertSame(cuda, AutoencoderKL.computeBackend(fixed, cuda, true));
        assertSame(cpu, AutoencoderKL.computeBackend(forced, cpu, true));   // the CPU computes in f32 anyway
    }

    @Test
    void upcastVaeDecodesAndEncodesAsTheCpu() {
        Path dir = sdxl().resolve("vae");
        AutoencoderKL onCpu = AutoencoderKL.load(dir, cpu, arena);
        AutoencoderKL upcast = AutoencoderKL.load(dir, cuda, arena, true);
        AutoencoderKL half = AutoencoderKL.load(dir, cuda, arena, false);
        assertEquals(DType.F32, dtypeOf(upcast));
        assertEquals(DType.F16, dtypeOf(half));

        Tensor latents = io.get("latents");                                    // [1, 4, 8, 8]
        Tensor expected = decode(onCpu, latents);                              // [1, 3, 16, 16]
        double upcastError = relativeError(decode(upcast, latents), expected);
        double halfError = relativeError(decode(half, latents), expected);
        System.out.printf("[gpu] SDXL tiny VAE decode vs CPU: f32 %.3g, f16 %.3g%n", upcastError, halfError);
        assertTrue(upcastError <= F32_BOUND, "upcast decode error " + upcastError);
        assertTrue(halfError > F32_BOUND, "the f16 VAE met the f32 bound (" + halfError + "): the bound tells nothing");
        assertTrue(halfError < 2e-2, "f16 decode error " + halfError);

        // latents of the f16 UNet cross to the f32 VAE on the device: exactly the host's f16 values, decoded in f32
        Tensor halfLatents = latents.to(DType.F16);
        assertTrue(relativeError(decode(upcast, cuda.upload(latents)), decode(onCpu, halfLatents)) <= F32_BOUND);

        Tensor image = io.get("enc_image");                                    // [1, 3, 16, 16]
        DiagonalGaussianDistribution e = onCpu.encode(image), u = upcast.encode(image), h = half.encode(image);
        double meanError = relativeError(u.mean(), e.mean()), logvarError = relativeError(u.logvar(), e.logvar());
        System.out.printf("[gpu] SDXL tiny VAE encode vs CPU: mean f32 %.3g f16 %.3g, logvar f32 %.3g%n", meanError,
                relativeError(h.mean(), e.mean()), logvarError);
        assertTrue(meanError <= F32_BOUND, "upcast encode mean error " + meanError);
        assertTrue(logvarError <= F32_BOUND, "upcast encode logvar error " + logvarError);
        assertTrue(relativeError(h.mean(), e.mean()) > F32_BOUND, "the f16 encoder met the f32 bound");
    }

    /**
     * SDXL's VAE failure in miniature: {@code decoder.conv_in} scaled so that its output (and the residual stream
     * after it) peaks at 4e5, past f16's 65504. The f16 VAE overflows to inf, its GroupNorms turn that into NaN;
     * upcast, every value stays finite and the picture is the CPU's.
     */
    @Test
    void activationsBeyondTheF16RangeDecodeOnlyUpcast() {
        Path dir = sdxl().resolve("vae");
        AutoencoderKLConfig config = AutoencoderKLConfig.read(dir.resolve("config.json"));
        Map<String, Tensor> weights = new LinkedHashMap<>(ModelFiles.loadWeights(dir, arena));
        Tensor latents = io.get("latents");
        Tensor convIn = convIn(weights, latents);                          // [1, 32, 8, 8]
        float scale = (float) (4e5 / maxAbs(convIn));
        for (String k : new String[] {"decoder.conv_in.weight", "decoder.conv_in.bias"}) {
            weights.put(k, Tensor.fromFloats(scaled(weights.get(k).toFloatArray(), scale), weights.get(k).shape()));
        }
        double peak = maxAbs(convIn(weights, latents));
        assertTrue(peak > 1e5, "conv_in peaks at " + peak);

        Tensor expected = decode(build(config, weights, cpu), latents);
        assertTrue(allFinite(expected), "the CPU's decode is not finite");
        Tensor half = decode(build(config, weights, cuda), latents);
        assertFalse(allFinite(half), "the f16 VAE stayed finite with activations of " + peak);
        Tensor upcast = decode(build(config, weights, AutoencoderKL.computeBackend(config, cuda, true)), latents);
        double error = relativeError(upcast, expected);
        System.out.printf("[gpu] SDXL tiny VAE with conv_in at %.3g: f32 decode vs CPU %.3g%n", peak, error);
        assertTrue(error <= F32_BOUND, "upcast decode error " + error);
    }

    private static AutoencoderKL build(AutoencoderKLConfig config, Map<String, Tensor> weights, Backend backend) {
        Weights w = Weights.of(weights, backend, "scaled SDXL tiny VAE");
        AutoencoderKL vae = new AutoencoderKL(config, w);
        w.finish();
        return vae;
    }

    /** decoder.conv_in(post_quant_conv(z)) on the CPU: the first activation of the decoder. */
    private static Tensor convIn(Map<String, Tensor> w, Tensor z) {
        Tensor h = cpu.conv2d(cpu.upload(z), cpu.upload(w.get("post_quant_conv.weight")), cpu.upload(w.get("post_quant_conv.bias")), 1, 0);
        return cpu.download(cpu.conv2d(h, cpu.upload(w.get("decoder.conv_in.weight")), cpu.upload(w.get("decoder.conv_in.bias")), 1, 1));
    }

    private static float[] scaled(float[] v, float s) {
        for (int i = 0; i < v.length; i++) v[i] *= s;
        return v;
    }

    private static double maxAbs(Tensor t) {
        double m = 0;
        for (float v : t.toFloatArray()) m = Math.max(m, Math.abs(v));
        return m;
    }

    private static boolean allFinite(Tensor t) {
        for (float v : t.toFloatArray()) if (!Float.isFinite(v)) return false;
        return true;
    }
}
