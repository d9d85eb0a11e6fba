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

    /**
     * The image sets' runs (inpainting with the 9-channel UNet, mask blur and crop included) replay eagerly and
     * through recorded CUDA graphs, as the pipeline runs them, every check passing at the f16 tolerances.
     */
    @Test
    void verifyReplaysImageRunsEagerlyAndThroughCudaGraphs() {
        Path set = Path.of(System.getProperty("pd.home", "..")).resolve("reference/inpaint9");
        CliRun r = CliRun.run("verify", set.toString(), "--backend", TinyModel.cudaBackend());
        List<String> lines = r.out().lines().toList();
        assertEquals(0, r.exit(), r.out() + r.err());
        assertTrue(lines.getLast().matches("\\d+ passed, 0 failed"), r.out());
        List<String> runs = lines.stream().filter(l -> l.contains(" final latents")).toList();
        assertTrue(runs.stream().anyMatch(l -> l.contains("[cuda graph] final latents")), "no CUDA-graph run in\n" + r.out());
        assertEquals(runs.size(), 2 * runs.stream().filter(l -> l.contains("[cuda graph]")).count(),
                "every run eagerly and through graphs:\n" + r.out());
    }

    @Test
    void generateWritesTheCpuPictureWithinHalfPrecisionError(@TempDir Path tmp) throws IOException {
        Path model = TinyModel.assemble(tmp.resolve("m"), "euler_a", TinyModel.Tokenizer.FOLDED_CLIP);
        assertSamePictures(tmp, 2, 4, 0.5, "--model", model.toString(), "--prompt", "a photograph of an astronaut riding a horse",
                "--negative-prompt", "blurry", "--steps", "6", "--seed", "42", "--batch", "2", "--width", "32", "--height", "24");
    }

    /**
     * The README's first command (the demo model, its own Euler a scheduler, 20 steps, CFG 7.5) on the CUDA backend. Each
     * forward pass is within f16 error of the CPU (UNet 7e-4, VAE 1.5e-3, text encoder 1.2e-3 relative), but twenty
     * guided steps amplify those differences (guidance multiplies them by 7.5 every step), so the pictures are held
     * to a looser bound than the tiny model's 6 steps: the mean pixel within 2 levels, no pixel off by more than 32.
     */
    @Test
    void theDemoModelDrawsTheCpuPictureOnCuda(@TempDir Path tmp) throws IOException {
        assertSamePictures(tmp, 1, 32, 2.0, "--prompt", "a red circle on a blue background", "--seed", "7");
    }

    /**
     * Image to image ({@code --init-image}, reference/img2img's picture, strength 0.4: 4 of 10 DDIM steps): the VAE
     * encoder and the noised start on the CUDA backend give the CPU picture (which ImageToImageCliTest holds to
     * diffusers' within one level) within f16 error.
     */
    @Test
    void imageToImageDrawsTheCpuPicture(@TempDir Path tmp) throws IOException {
        Path model = TinyModel.assemble(tmp.resolve("m"), "ddim", TinyModel.Tokenizer.FOLDED_CLIP);
        Path init = Path.of(System.getProperty("pd.home", "..")).resolve("reference/img2img/init.png");
        assertSamePictures(tmp, 1, 4, 0.5, "--model", model.toString(), "--prompt", "a photograph of an astronaut riding a horse",
                "--negative-prompt", "blurry", "--init-image", init.toString(), "--strength", "0.4", "--steps", "10",
                "--seed", "21");
    }

    /** Runs {@code generate args} on the CPU and on the CUDA backend and compares the pictures pixel by pixel. */
    private static void assertSamePictures(Path tmp, int batch, int maxWorst, double maxMean, String... args) throws IOException {
        String backend = TinyModel.cudaBackend();
        Path cpu = tmp.resolve("cpu.png"), cuda = tmp.resolve("cuda.png");
        for (var run : List.of(List.of("cpu", cpu), List.of(backend, cuda))) {
            List<String> argv = new java.util.ArrayList<>(List.of("generate"));
            argv.addAll(List.of(args));
            argv.addAll(List.of("--backend", (String) run.get(0), "--out", run.get(1).toString()));
            CliRun r = CliRun.run(argv.toArray(String[]::new));
            assertEquals(0, r.exit(), r.err());
        }
        for (int image = 1; image <= batch; image++) {
            int[][] a = GenerateEndToEndTest.pixels(batch == 1 ? cpu : tmp.resolve("cpu-" + image + ".png"));
            int[][] b = GenerateEndToEndTest.pixels(batch == 1 ? cuda : tmp.resolve("cuda-" + image + ".png"));
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
            assertTrue(worst <= maxWorst, "image " + image + ": worst pixel differs by " + worst + " levels");
            assertTrue(sum / (double) n <= maxMean, "image " + image + ": mean difference " + sum / (double) n + " levels");
        }
    }
}
