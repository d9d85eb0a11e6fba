package dev.panamadiffusion.bench;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.backend.cpu.CpuBackend;
import dev.panamadiffusion.config.ConfigJson;
import dev.panamadiffusion.cuda.CudaBackend;
import dev.panamadiffusion.cuda.CudaProbe;
import dev.panamadiffusion.cuda.CudaStatus;
import dev.panamadiffusion.io.ModelFiles;
import dev.panamadiffusion.io.SafeTensors;
import dev.panamadiffusion.models.unet.UNet2DConditionConfig;
import dev.panamadiffusion.models.unet.UNet2DConditionModel;
import dev.panamadiffusion.tensor.DType;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.weights.Weights;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.reflect.RecordComponent;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/** What the CUDA benchmarks share: the GPU check, the SD 1.5 UNet with random weights (in memory or as a file). */
final class CudaBench {
    private CudaBench() {}

    /** Weights seed and standard deviation, the same as {@link UNetStepBenchmark}'s. */
    static final long SEED = 1234;
    static final float STD = 0.02f;

    /** The one line a CUDA benchmark fails with where no GPU can run it (null when one can). */
    static String unavailable() {
        CudaStatus s = CudaProbe.probe();
        return s.available() ? null : "this benchmark needs an NVIDIA GPU with CUDA (compute capability 8.0+): " + s.message();
    }

    /** A CUDA backend with the default arena, or an {@link IllegalStateException} saying why there is none. */
    static CudaBackend start() {
        String why = unavailable();
        if (why != null) throw new IllegalStateException(why);
        return new CudaBackend();
    }

    /** A UNet with the weights it was bound to (to bind a second model to the same tensors). */
    record Bound(UNet2DConditionModel unet, Map<String, Tensor> weights) {}

    /** The SD 1.5 UNet on {@code backend} with random weights generated on the host, N(0, 0.02²). */
    static Bound randomSd15(Backend backend) {
        Weights w = Weights.random(backend, SEED, STD);
        UNet2DConditionModel unet = new UNet2DConditionModel(UNet2DConditionConfig.sd15(), w);
        w.finish();
        return new Bound(unet, w.bound());
    }

    /** The UNet of {@code componentDir} (config.json and safetensors) on {@code backend}; files mapped into {@code arena}. */
    static Bound load(Path componentDir, Backend backend, Arena arena) {
        UNet2DConditionConfig config = UNet2DConditionConfig.read(componentDir.resolve("config.json"));
        Weights w = Weights.of(ModelFiles.loadWeights(componentDir, arena), backend, "UNet " + componentDir);
        UNet2DConditionModel unet = new UNet2DConditionModel(config, w);
        w.finish();
        return new Bound(unet, w.bound());
    }

    /** A second model over the tensors {@code bound} holds (already on the backend under {@code backend}). */
    static UNet2DConditionModel rebind(Bound bound, Backend backend) {
        Weights w = Weights.of(bound.weights(), backend, "rebound UNet");
        UNet2DConditionModel unet = new UNet2DConditionModel(bound.unet().config(), w);
        w.finish();
        return unet;
    }

    /** Stable Diffusion 1.5's unet/config.json (the keys that differ from the defaults), as {@link UNet2DConditionConfig#sd15()}. */
    static final String SD15_CONFIG = """
            {"_class_name": "UNet2DConditionModel", "sample_size": 64, "cross_attention_dim": 768, "attention_head_dim": 8}
            """;

    /**
     * Writes a UNet of {@code configJson} with random weights (as {@link #randomSd15}: seed {@link #SEED}, N(0, 0.02²),
     * stored in f16) as a diffusers component folder: {@code config.json} and
     * {@code diffusion_pytorch_model.fp16.safetensors} (1.7 GB for SD 1.5). Returns the bytes of the weights file.
     */
    static long writeRandom(String configJson, Path componentDir) {
        try (CpuBackend host = new CpuBackend(1)) {  // upload on the CPU backend adopts f32 host tensors: no copies
            UNet2DConditionConfig config = UNet2DConditionConfig.fromJson(ConfigJson.MAPPER.readTree(configJson));
            Weights w = Weights.random(host, SEED, STD);
            new UNet2DConditionModel(config, w);
            w.finish();
            Map<String, Tensor> f16 = new LinkedHashMap<>();
            for (Map.Entry<String, Tensor> e : w.bound().entrySet()) f16.put(e.getKey(), e.getValue().to(DType.F16));
            Files.createDirectories(componentDir);
            Files.writeString(componentDir.resolve("config.json"), configJson);
            Path file = componentDir.resolve("diffusion_pytorch_model.fp16.safetensors");
            SafeTensors.write(file, f16, Map.of("format", "pt", "note", "random UNet weights for benchmarks"));
            return Files.size(file);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write a random UNet to " + componentDir, e);
        }
    }

    /** Whether two configs are equal component by component (records of arrays do not compare their contents). */
    static boolean sameConfig(UNet2DConditionConfig a, UNet2DConditionConfig b) {
        try {
            for (RecordComponent c : UNet2DConditionConfig.class.getRecordComponents()) {
                if (!Objects.deepEquals(c.getAccessor().invoke(a), c.getAccessor().invoke(b))) return false;
            }
            return true;
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(e);
        }
    }

    /** N(0, 1) inputs from a seed. */
    static Tensor gaussian(long seed, long... shape) { return UNetStepBenchmark.gaussian(seed, shape); }

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        int n = s.length;
        return n == 0 ? Double.NaN : n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    }

    /** max |a − b| / max |b| over two host tensors of one shape (infinite when {@code a} has a non-finite value). */
    static double relError(Tensor a, Tensor b) {
        float[] x = a.toFloatArray(), y = b.toFloatArray();
        double worst = 0, scale = 0;
        for (int i = 0; i < x.length; i++) {
            if (!Float.isFinite(x[i])) return Double.POSITIVE_INFINITY;
            worst = Math.max(worst, Math.abs((double) x[i] - y[i]));
            scale = Math.max(scale, Math.abs(y[i]));
        }
        return worst / scale;
    }
}
