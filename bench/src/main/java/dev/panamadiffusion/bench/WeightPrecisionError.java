package dev.panamadiffusion.bench;

import dev.panamadiffusion.backend.WeightPrecision;
import dev.panamadiffusion.backend.cpu.CpuBackend;
import dev.panamadiffusion.models.unet.UNet2DConditionModel;
import dev.panamadiffusion.models.vae.AutoencoderKL;
import dev.panamadiffusion.tensor.Tensor;

import java.lang.foreign.Arena;
import java.nio.file.Path;

/**
 * The error that storing the weights in bf16 or int8 adds to one UNet forward and one VAE decode of a diffusers
 * model folder, against the same backend with f32 weights, on Gaussian inputs: relative RMS error
 * (||y - y_f32|| / ||y_f32||) and relative max error (max |y - y_f32| / max |y_f32|). Run it once per int8 group size
 * ({@code -Dpd.cpu.int8.group}).
 *
 * <pre>
 * java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Dpd.cpu.int8.group=32 \
 *     -cp bench/target/benchmarks.jar dev.panamadiffusion.bench.WeightPrecisionError models/pdiff-demo 8
 * </pre>
 * (the second argument: the latent side, 8 for the demo model, 64 for SD 1.5 at 512 x 512).
 */
public final class WeightPrecisionError {
    private WeightPrecisionError() {}

    public static void main(String[] args) {
        Path model = Path.of(args[0]);
        int side = Integer.parseInt(args[1]);
        Tensor sample = UNetStepBenchmark.gaussian(1, 2, 4, side, side);
        float[][] ref = null;
        for (WeightPrecision p : WeightPrecision.values()) {
            float[][] out = run(model, p, sample, side);
            if (ref == null) ref = out;
            else System.out.printf("%s (int8 group %s): UNet %s; VAE decode %s%n", p.label(),
                    System.getProperty("pd.cpu.int8.group", "32"), error(ref[0], out[0]), error(ref[1], out[1]));
        }
    }

    private static float[][] run(Path model, WeightPrecision p, Tensor sample, int side) {
        try (CpuBackend cpu = new CpuBackend(Runtime.getRuntime().availableProcessors(), p); Arena arena = Arena.ofShared()) {
            UNet2DConditionModel unet = UNet2DConditionModel.load(model.resolve("unet"), cpu, arena);
            long ctxWidth = unet.config().crossAttentionDim()[0];
            Tensor ctx = UNetStepBenchmark.gaussian(2, 2, 77, ctxWidth);
            float[] u = cpu.download(unet.forward(cpu.upload(sample), new double[] {500, 500}, cpu.upload(ctx))).toFloatArray();
            AutoencoderKL vae = AutoencoderKL.load(model.resolve("vae"), cpu, arena);
            Tensor latents = UNetStepBenchmark.gaussian(3, 1, 4, side, side);
            float[] v = cpu.download(vae.decode(cpu.upload(latents))).toFloatArray();
            return new float[][] {u, v};
        }
    }

    private static String error(float[] ref, float[] got) {
        double se = 0, ss = 0, maxErr = 0, maxRef = 0;
        for (int i = 0; i < ref.length; i++) {
            double d = got[i] - ref[i];
            se += d * d;
            ss += (double) ref[i] * ref[i];
            maxErr = Math.max(maxErr, Math.abs(d));
            maxRef = Math.max(maxRef, Math.abs(ref[i]));
        }
        return String.format("rel RMS %.2e, rel max %.2e", Math.sqrt(se / ss), maxErr / maxRef);
    }
}
