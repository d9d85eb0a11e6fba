package dev.panamadiffusion.cli;

import dev.panamadiffusion.testing.TinyModel;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The CLI on the CUDA backend: on NVIDIA's driver where there is one, on the CUDA emulator everywhere else (CI), so
 * these run on every machine. {@code verify} must pass every reference check at the f16 tolerances, eagerly and through
 * CUDA graphs; {@code generate} must write the CPU backend's picture within f16 error.
 */
@Tag("gpu")
class CudaEndToEndTest {

    @Test
    void verifyPassesEveryCheckEagerlyAndThroughCudaGraphs() {
        String backend = TinyModel.cudaBackend();
        CliRun r = CliRun.run("verify", TinyModel.reference().toString(), "--backend", backend);
        List<String> lines = r.out().lines().toList();
        assertEquals(0, r.exit(), r.out() + r.err());
        assertTrue(lines.getLast().matches("\\d+ passed, 0 failed"), r.out());
        for (String l : lines.subList(0, lines.size() - 1)) assertTrue(l.contains(" PASS"), l);
        for (String loop : List.of("ddim", "pndm", "euler", "euler_a", "lms", "dpmpp2m", "dpmpp2m_karras")) {
            String prefix = "tiny/loop_" + loop + "_cfg7.5";
            assertTrue(lines.stream().anyMatch(l -> l.startsWith(prefix + " image_raw")), "no eager " + loop + " loop in\n" + r.out());
            assertTrue(lines.stream().anyMatch(l -> l.startsWith(prefix + " [cuda graph] image_raw")),
                    "no CUDA-graph " + loop + " loop in\n" + r.out());
        }
        assertTrue(lines.stream().anyMatch(l -> l.startsWith("tiny/unet t=")), r.out());
        assertTrue(lines.stream().anyMatch(l -> l.startsWith("tiny/vae decode")), r.out());
        assertTrue(lines.stream().anyMatch(l -> l.startsWith("tiny/text_encoder last_hidden_state")), r.out());
    }

    @Test
    void generateWritesTheCpuPictureWithinHalfPrecisionError(@TempDir Path tmp) throws IOException {
        String backend = TinyModel.cudaBackend();
        Path model = TinyModel.assemble(tmp.resolve("m"), "euler_a", TinyModel.Tokenizer.FOLDED_CLIP);
        Path cpu = tmp.resolve("cpu.png"), cuda = tmp.resolve("cuda.png");
        for (var run : List.of(List.of("cpu", cpu), List.of(backend, cuda))) {
            CliRun r = CliRun.run("generate", "--model", model.toString(), "--prompt", "a photograph of an astronaut riding a horse",
                    "--negative-prompt", "blurry", "--steps", "6", "--seed", "42", "--batch", "2", "--width", "32", "--height", "24",
                    "--backend", (String) run.get(0), "--out", run.get(1).toString());
            assertEquals(0, r.exit(), r.err());
        }
        for (int image = 1; image <= 2; image++) {
            int[][] a = GenerateEndToEndTest.pixels(tmp.resolve("cpu-" + image + ".png"));
            int[][] b = GenerateEndToEndTest.pixels(tmp.resolve("cuda-" + image + ".png"));
            int worst = 0;
            long sum = 0, n = 0;
            for (int c = 0; c < 3; c++) {
                for (int p = 0; p < a[c].length; p++) {
                    int d = Math.abs(a[c][p] - b[c][p]);
                    worst = Math.max(worst, d);
                    sum += d;
                    n++;
                }
            }
            System.out.printf("[gpu] %s image %d vs cpu: worst pixel %d levels, mean %.3f%n", backend, image, worst, sum / (double) n);
            // f16 activations over 6 steps: a few 8-bit levels at worst, a fraction of one on average
            assertTrue(worst <= 4, "image " + image + ": worst pixel differs by " + worst + " levels");
            assertTrue(sum / (double) n <= 0.5, "image " + image + ": mean difference " + sum / (double) n + " levels");
        }
    }
}
