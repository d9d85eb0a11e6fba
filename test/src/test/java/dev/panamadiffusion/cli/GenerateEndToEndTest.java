package dev.panamadiffusion.cli;

import dev.panamadiffusion.testing.TinyModel;

import dev.panamadiffusion.io.SafeTensors;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code pdiff generate} on complete model folders assembled from the tiny reference components. */
class GenerateEndToEndTest {

    @Test
    void writesPngWithA1111Parameters(@TempDir Path tmp) throws IOException {
        Path model = TinyModel.assemble(tmp.resolve("tiny-sd"), "pndm", TinyModel.Tokenizer.TINY_BPE);
        Path out = tmp.resolve("out/horse.png");
        CliRun r = CliRun.run("generate", "--model", model.toString(), "--prompt", "a horse",
                "--negative-prompt", "blurry", "--steps", "3", "--seed", "42", "--backend", "cpu", "--out", out.toString());
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("wrote " + out), r.out());
        assertTrue(r.err().contains("4/4"), "progress bar on stderr (PLMS runs steps + 1 iterations): " + r.err());
        byte[] png = Files.readAllBytes(out);
        BufferedImage img = ImageIO.read(new ByteArrayInputStream(png));
        assertNotNull(img);
        assertEquals(16, img.getWidth()); // tiny UNet sample_size 8 × VAE scale 2
        assertEquals(16, img.getHeight());
        assertEquals("a horse\nNegative prompt: blurry\nSteps: 3, Sampler: PNDM, CFG scale: 7.5, Seed: 42, Size: 16x16, "
                + "Model: tiny-sd, RNG: CPU", textChunks(png).get("parameters"));

        // the same seed gives the same pixels; another seed different ones
        Path again = tmp.resolve("again.png");
        assertEquals(0, CliRun.run("generate", "--model", model.toString(), "--prompt", "a horse", "--negative-prompt",
                "blurry", "--steps", "3", "--seed", "42", "--backend", "cpu", "--out", again.toString()).exit());
        assertTrue(Arrays.deepEquals(pixels(out), pixels(again)));
        Path other = tmp.resolve("other.png");
        assertEquals(0, CliRun.run("generate", "--model", model.toString(), "--prompt", "a horse", "--negative-prompt",
                "blurry", "--steps", "3", "--seed", "43", "--backend", "cpu", "--out", other.toString()).exit());
        assertFalse(Arrays.deepEquals(pixels(out), pixels(other)));
    }

    /**
     * {@code --timings} prints one line of every phase's seconds, which add up to no more than the total, the later
     * steps' mean between their min and max; without it, no such line.
     */
    @Test
    void timingsPrintEveryPhase(@TempDir Path tmp) throws IOException {
        Path model = TinyModel.assemble(tmp.resolve("m"), "euler", TinyModel.Tokenizer.TINY_BPE);
        CliRun r = CliRun.run("generate", "--model", model.toString(), "--prompt", "a horse", "--steps", "4", "--seed", "1",
                "--backend", "cpu", "--timings", "--out", tmp.resolve("t.png").toString());
        assertEquals(0, r.exit(), r.err());
        String line = r.errLines().stream().filter(l -> l.startsWith("timings:")).findFirst().orElseThrow(() -> new AssertionError(r.err()));
        java.util.Map<String, Double> t = new java.util.LinkedHashMap<>();
        for (String kv : line.substring("timings:".length()).trim().split(" ")) {
            String[] p = kv.split("=");
            t.put(p[0], Double.parseDouble(p[1]));
        }
        assertEquals(java.util.List.of("load", "begin", "first_step", "step_mean", "step_min", "step_max", "decode", "png", "total"),
                java.util.List.copyOf(t.keySet()), line);
        for (double v : t.values()) assertTrue(v >= 0, line);
        assertTrue(t.get("step_min") <= t.get("step_mean") && t.get("step_mean") <= t.get("step_max"), line);
        double parts = t.get("load") + t.get("begin") + t.get("first_step") + 3 * t.get("step_mean") + t.get("decode") + t.get("png");
        assertTrue(parts <= t.get("total") + 1e-2, "phases add up to more than the total: " + line);
        assertTrue(parts >= 0.5 * t.get("total"), "phases miss most of the total: " + line);
        CliRun plain = CliRun.run("generate", "--model", model.toString(), "--prompt", "a horse", "--steps", "2", "--seed", "1",
                "--backend", "cpu", "--out", tmp.resolve("u.png").toString());
        assertEquals(0, plain.exit(), plain.err());
        assertTrue(plain.errLines().stream().noneMatch(l -> l.startsWith("timings:")), plain.err());
    }

    @Test
    void batchWritesNumberedFilesFromOneNoiseDraw(@TempDir Path tmp) throws IOException {
        Path model = TinyModel.assemble(tmp.resolve("m"), "ddim", TinyModel.Tokenizer.TINY_BPE);
        Path out = tmp.resolve("cat.png");
        CliRun r = CliRun.run("generate", "--model", model.toString(), "--prompt", "a cat", "--steps", "2",
                "--seed", "7", "--batch", "2", "--width", "24", "--height", "16", "--guidance", "1", "--backend", "cpu",
                "--out", out.toString());
        assertEquals(0, r.exit(), r.err());
        assertFalse(Files.exists(out));
        Path first = tmp.resolve("cat-1.png");
        Path second = tmp.resolve("cat-2.png");
        for (int i = 0; i < 2; i++) {
            byte[] png = Files.readAllBytes(i == 0 ? first : second);
            BufferedImage img = ImageIO.read(new ByteArrayInputStream(png));
            assertEquals(24, img.getWidth());
            assertEquals(16, img.getHeight());
            assertEquals("a cat\nSteps: 2, Sampler: DDIM, CFG scale: 1.0, Seed: 7, Size: 24x16, Model: m, RNG: CPU, "
                    + "Batch size: 2, Batch pos: " + i, textChunks(png).get("parameters"));
        }
        assertFalse(Arrays.deepEquals(pixels(first), pixels(second)), "two rows of one draw are different images");
    }

    /** --seed-per-image: image i of the batch is seed + i's, the image --batch 1 --seed 7+i makes, and says so. */
    @Test
    void seedPerImageMakesEachImageOfItsOwnSeed(@TempDir Path tmp) throws IOException {
        Path model = TinyModel.assemble(tmp.resolve("m"), "ddim", TinyModel.Tokenizer.TINY_BPE);
        CliRun r = CliRun.run("generate", "--model", model.toString(), "--prompt", "a cat", "--steps", "2", "--scheduler", "Euler a",
                "--seed", "7", "--batch", "2", "--seed-per-image", "--width", "24", "--height", "16", "--backend", "cpu",
                "--out", tmp.resolve("cat.png").toString());
        assertEquals(0, r.exit(), r.err());
        CliRun alone = CliRun.run("generate", "--model", model.toString(), "--prompt", "a cat", "--steps", "2", "--scheduler", "Euler a",
                "--seed", "8", "--width", "24", "--height", "16", "--backend", "cpu", "--out", tmp.resolve("eight.png").toString());
        assertEquals(0, alone.exit(), alone.err());
        for (int i = 0; i < 2; i++) {
            byte[] png = Files.readAllBytes(tmp.resolve("cat-" + (i + 1) + ".png"));
            assertTrue(textChunks(png).get("parameters").contains("Seed: " + (7 + i) + ", "), textChunks(png).get("parameters"));
        }
        int[][] eight = pixels(tmp.resolve("eight.png")), second = pixels(tmp.resolve("cat-2.png"));
        int worst = 0;  // the batch's GEMMs may block differently: the same image to rounding
        for (int c = 0; c < 3; c++) {
            for (int k = 0; k < eight[c].length; k++) worst = Math.max(worst, Math.abs(eight[c][k] - second[c][k]));
        }
        assertTrue(worst <= 1, "image 2 vs seed 8's alone: " + worst + " levels");
        assertFalse(Arrays.deepEquals(pixels(tmp.resolve("cat-1.png")), second), "two seeds, two images");
    }

    /**
     * The whole pipeline against diffusers' StableDiffusionPipeline: with the tokenizer folded as the reference folded
     * its ids, the prompt encodes to the recorded embeddings, seed 42 draws the recorded noise, and every scheduler
     * must reproduce the recorded image to within one 8-bit level.
     */
    @ParameterizedTest
    @ValueSource(strings = {"ddim", "pndm", "euler", "lms", "dpmpp2m", "dpmpp2m_karras"})
    void matchesDiffusersPixelForPixel(String scheduler, @TempDir Path tmp) throws IOException {
        Path model = TinyModel.assemble(tmp.resolve("m"), scheduler, TinyModel.Tokenizer.FOLDED_CLIP);
        Map<String, Tensor> loop = SafeTensors.readAll(TinyModel.reference().resolve("tiny/loop_" + scheduler + "_cfg7.5.safetensors"));
        long steps = loop.containsKey("num_inference_steps") ? loop.get("num_inference_steps").getLong(0) : loop.get("timesteps").numel();
        Path out = tmp.resolve("astronaut.png");
        CliRun r = CliRun.run("generate", "--model", model.toString(), "--prompt",
                "a photograph of an astronaut riding a horse", "--steps", Long.toString(steps), "--guidance", "7.5",
                "--seed", "42", "--backend", "cpu", "--out", out.toString());
        assertEquals(0, r.exit(), r.err());
        int[][] got = pixels(out);
        float[] ref = loop.get("image_01").toFloatArray(); // [1, 3, 16, 16]
        int maxDiff = 0;
        for (int c = 0; c < 3; c++) {
            for (int p = 0; p < 256; p++) {
                int expected = (int) Math.rint(Math.min(1f, Math.max(0f, ref[c * 256 + p])) * 255f);
                maxDiff = Math.max(maxDiff, Math.abs(got[c][p] - expected));
            }
        }
        assertTrue(maxDiff <= 1, scheduler + ": largest pixel difference from diffusers " + maxDiff);
    }

    // ---- bad arguments: one line on stderr, non-zero exit, no stack trace -----------------------------------------

    @Test
    void sizeNotMultipleOf8(@TempDir Path tmp) throws IOException {
        Path model = TinyModel.assemble(tmp.resolve("m"), "pndm", TinyModel.Tokenizer.TINY_BPE);
        expectOneLine(2, "error: --width 20 is not a multiple of 8 (try 16 or 24)",
                "generate", "--model", model.toString(), "--prompt", "x", "--width", "20", "--backend", "cpu",
                "--out", tmp.resolve("x.png").toString());
    }

    @Test
    void sizeNotMultipleOf64ForSdShapedModel(@TempDir Path tmp) throws IOException {
        // SD 1.5's shape (4 UNet blocks, 4 VAE blocks) is judged from the configs before any weight is read
        Path model = tmp.resolve("sd");
        Files.createDirectories(model.resolve("unet"));
        Files.createDirectories(model.resolve("vae"));
        Files.writeString(model.resolve("model_index.json"), "{\"_class_name\": \"StableDiffusionPipeline\"}");
        Files.writeString(model.resolve("unet/config.json"), "{\"block_out_channels\": [320, 640, 1280, 1280]}");
        Files.writeString(model.resolve("vae/config.json"), "{\"block_out_channels\": [128, 256, 512, 512]}");
        expectOneLine(2, "error: --width 520 is not a multiple of 64 (try 512 or 576): the VAE turns 8x8 pixels into one"
                        + " latent and the UNet halves the latent 3 times and upsamples by exactly 2x, so a side / 8 must be"
                        + " divisible by 8",
                "generate", "--model", model.toString(), "--prompt", "x", "--width", "520", "--out", tmp.resolve("x.png").toString());
    }

    @Test
    void unknownScheduler(@TempDir Path tmp) throws IOException {
        Path model = TinyModel.assemble(tmp.resolve("m"), "pndm", TinyModel.Tokenizer.TINY_BPE);
        CliRun r = expectOneLine(2, null, "generate", "--model", model.toString(), "--prompt", "x", "--scheduler",
                "Heun", "--out", tmp.resolve("x.png").toString());
        assertTrue(r.errLines().get(0).startsWith("error: unknown scheduler 'Heun' (use one of: DDIM, PNDM, Euler, Euler a,"),
                r.err());
    }

    @Test
    void missingModelFolder(@TempDir Path tmp) {
        Path missing = tmp.resolve("no-such-model");
        expectOneLine(2, "error: model folder " + missing + " does not exist",
                "generate", "--model", missing.toString(), "--prompt", "x", "--out", tmp.resolve("x.png").toString());
    }

    @Test
    void zeroSteps(@TempDir Path tmp) throws IOException {
        Path model = TinyModel.assemble(tmp.resolve("m"), "pndm", TinyModel.Tokenizer.TINY_BPE);
        expectOneLine(2, "error: --steps must be between 1 and 1000, got 0",
                "generate", "--model", model.toString(), "--prompt", "x", "--steps", "0", "--out", tmp.resolve("x.png").toString());
    }

    @Test
    void batchTooLargeAndUnparsableNumber(@TempDir Path tmp) throws IOException {
        Path model = TinyModel.assemble(tmp.resolve("m"), "pndm", TinyModel.Tokenizer.TINY_BPE);
        String png = tmp.resolve("x.png").toString();
        expectOneLine(2, "error: --batch must be between 1 and 16, got 17",
                "generate", "--model", model.toString(), "--prompt", "x", "--batch", "17", "--out", png);
        expectOneLine(2, "pdiff generate: Invalid value for option '--steps': 'ten' is not an int (see pdiff generate --help)",
                "generate", "--model", model.toString(), "--prompt", "x", "--steps", "ten", "--out", png);
        expectOneLine(2, "pdiff generate: Missing required option: '--prompt=TEXT' (see pdiff generate --help)",
                "generate", "--model", model.toString(), "--out", png);
    }

    @Test
    void tokenIdOutsideTheTextEncoderVocabulary(@TempDir Path tmp) throws IOException {
        // the real CLIP tokenizer's ids (up to 49407) do not fit the tiny text encoder's 1,000-row embedding table: a model
        // folder the user can fix, found when it loads (exit code 2)
        Path model = TinyModel.assemble(tmp.resolve("m"), "pndm", TinyModel.Tokenizer.REAL_CLIP);
        Path out = tmp.resolve("x.png");
        expectOneLine(2, "error: model folder " + model + ": the tokenizer gives token ids up to 49407 but the text encoder"
                        + " has embeddings for 1000 ids: tokenizer/ does not belong to this text encoder",
                "generate", "--model", model.toString(), "--prompt", "a horse", "--backend", "cpu", "--out", out.toString());
        assertFalse(Files.exists(out));
    }

    /** Runs the CLI and checks the exit code and that stderr is exactly one line ({@code line}, unless null). */
    private static CliRun expectOneLine(int exit, String line, String... args) {
        CliRun r = CliRun.run(args);
        assertEquals(exit, r.exit(), r.err());
        assertEquals(1, r.errLines().size(), "one line on stderr, got:\n" + r.err());
        assertFalse(r.err().contains("\tat "), "no stack trace");
        if (line != null) assertEquals(line, r.errLines().get(0));
        return r;
    }

    // ---- PNG reading, independent of the writer ----------------------------------------------------------------

    /** tEXt chunks by keyword (CRCs checked). */
    static Map<String, String> textChunks(byte[] png) {
        return dev.panamadiffusion.testing.Png.textChunks(png);
    }

    /** [channel][y * width + x] as 0..255, read by ImageIO. */
    static int[][] pixels(Path png) throws IOException {
        BufferedImage img = ImageIO.read(png.toFile());
        int w = img.getWidth(), h = img.getHeight();
        int[][] out = new int[3][w * h];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int rgb = img.getRGB(x, y);
                out[0][y * w + x] = (rgb >> 16) & 0xff;
                out[1][y * w + x] = (rgb >> 8) & 0xff;
                out[2][y * w + x] = rgb & 0xff;
            }
        }
        return out;
    }
}
