package dev.panamadiffusion.cli;

import dev.panamadiffusion.testing.Png;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code --weights f32|bf16|int8}: the demo model's picture with reduced weights stays close to the f32 one (PSNR, at
 * the tolerances of bench/RESULTS.md "CPU weight precision"); an unknown precision, and reduced weights asked of a CUDA
 * backend, are one line with exit code 2, for generate and serve.
 */
class WeightsCliTest {
    @Test
    void reducedWeightsDrawNearlyTheSamePicture(@TempDir Path tmp) throws IOException {
        byte[] f32 = Png.rgb(generate(tmp, "f32"));
        byte[] bf16 = Png.rgb(generate(tmp, "bf16"));
        byte[] int8 = Png.rgb(generate(tmp, "int8"));
        double pBf16 = psnr(f32, bf16), pInt8 = psnr(f32, int8);
        // measured 60.0 and 58.6 dB
        System.out.printf("[parity] demo model, 4 steps: PSNR against f32: bf16 %.1f dB, int8 %.1f dB%n", pBf16, pInt8);
        assertTrue(pBf16 >= 45, "bf16 PSNR " + pBf16);
        assertTrue(pInt8 >= 40, "int8 PSNR " + pInt8);
    }

    private static byte[] generate(Path tmp, String weights) throws IOException {
        Path out = tmp.resolve(weights + ".png");
        CliRun r = CliRun.run("generate", "--prompt", "a small red circle in the center on a white background", "--seed", "3",
                "--steps", "4", "--backend", "cpu", "--weights", weights, "--out", out.toString());
        assertEquals(0, r.exit(), r.err());
        return Files.readAllBytes(out);
    }

    static double psnr(byte[] x, byte[] y) {
        assertEquals(x.length, y.length);
        double se = 0;
        for (int i = 0; i < x.length; i++) {
            double d = (x[i] & 0xff) - (y[i] & 0xff);
            se += d * d;
        }
        return se == 0 ? Double.POSITIVE_INFINITY : 10 * Math.log10(255.0 * 255.0 / (se / x.length));
    }

    @Test
    void unknownPrecisionsAndCudaAreRefused(@TempDir Path tmp) {
        String out = tmp.resolve("x.png").toString();
        refused("error: --weights: unknown weight precision 'q4_0' (use f32, bf16 or int8)",
                "generate", "-p", "a cat", "--backend", "cpu", "--weights", "q4_0", "--out", out);
        String cuda = "error: --weights int8 is for the cpu backend: backend cuda keeps its weights in f16; use --backend cpu,"
                + " or leave --weights out";
        refused(cuda, "generate", "-p", "a cat", "--backend", "cuda", "--weights", "int8", "--out", out);
        refused(cuda.replace("int8", "bf16").replace("backend cuda keeps", "backend cuda-emu keeps"),
                "generate", "-p", "a cat", "--backend", "cuda-emu", "--weights", "bf16", "--out", out);
        refused("error: --weights: unknown weight precision 'fp8' (use f32, bf16 or int8)",
                "serve", "--backend", "cpu", "--port", "0", "--weights", "fp8");
        refused(cuda, "serve", "--backend", "cuda", "--port", "0", "--weights", "int8");
        assertFalse(Files.exists(tmp.resolve("x.png")));
    }

    private static void refused(String line, String... args) {
        CliRun r = CliRun.run(args);
        assertEquals(2, r.exit(), r.err());
        assertEquals(List.of(line), r.errLines());
    }
}
