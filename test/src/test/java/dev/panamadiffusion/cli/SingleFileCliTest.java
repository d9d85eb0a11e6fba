package dev.panamadiffusion.cli;

import dev.panamadiffusion.io.DemoModel;
import dev.panamadiffusion.io.SafeTensors;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.testing.Png;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Single-file checkpoints through the CLI: {@code verify} replays reference/single-file (the LDM files against what
 * diffusers computed from the diffusers folders), {@code generate --model FILE} runs the tiny SDXL file as diffusers'
 * StableDiffusionXLPipeline ran its folders, and refuses what it cannot load with one line and exit code 2.
 */
class SingleFileCliTest {
    private static Path sets() {
        Path p = Path.of(System.getProperty("pd.home", "..")).resolve("reference/single-file");
        assertTrue(Files.isDirectory(p.resolve("sd1")), "reference/single-file missing at " + p.toAbsolutePath());
        return p;
    }

    @Test
    void verifyReplaysEverySingleFileSet() {
        CliRun r = CliRun.run("verify", sets().toString(), "--backend", "cpu");
        List<String> lines = r.out().lines().toList();
        assertEquals("36 passed, 0 failed", lines.getLast(), r.out() + r.err());
        assertEquals(0, r.exit());
        for (String set : List.of("sd1/", "sd2-v/", "sdxl/")) {
            for (String check : List.of("text_encoder last_hidden_state", "text_encoder pooler_output", "unet t=[10,500]",
                    "vae decode", "vae encode mean")) {
                assertTrue(lines.stream().anyMatch(l -> l.startsWith(set + check) && l.endsWith("PASS")), set + check + "\n" + r.out());
            }
        }
        for (String check : List.of("text_encoder hidden_state_penultimate", "text_encoder_2 last_hidden_state",
                "text_encoder_2 text_embeds", "text_encoder_2 hidden_state_penultimate", "loop_euler_cfg5 add_embeds",
                "loop_euler_cfg5 step 3", "loop_euler_cfg5 image_01")) {
            assertTrue(lines.stream().anyMatch(l -> l.startsWith("sdxl/" + check) && l.contains(" PASS")), check + "\n" + r.out());
        }
    }

    /**
     * {@code generate} on the tiny SDXL file with the model's defaults (Euler, guidance 5): the picture of diffusers'
     * StableDiffusionXLPipeline on the diffusers folders (the set's loop_euler_cfg5, image_01) within 1/255. A single
     * file holds no tokenizer; the tiny text encoders know 1,000 ids, so the demo model's tokenizer is swapped for
     * the 1,000-id CLIP BPE the loop was recorded with (reference/sdxl/tokenizer) through -Dpd.demo.model.
     */
    @Test
    void generatesTheSdxlFileAsDiffusersDidItsFolders(@TempDir Path tmp) throws IOException {
        Path demo = tmp.resolve("demo");
        Files.createDirectories(demo.resolve("tokenizer"));
        Files.writeString(demo.resolve("model_index.json"), "{\"_class_name\": \"StableDiffusionPipeline\"}");
        Path bpe = sets().resolveSibling("sdxl").resolve("tokenizer");
        try (var files = Files.list(bpe)) {
            for (Path f : files.toList()) Files.copy(f, demo.resolve("tokenizer").resolve(f.getFileName()));
        }
        Path out = tmp.resolve("sdxl.png");
        String before = System.getProperty(DemoModel.MODEL_PROPERTY);
        System.setProperty(DemoModel.MODEL_PROPERTY, demo.toString());
        CliRun r;
        try {
            r = CliRun.run("generate", "--model", sets().resolve("sdxl/tiny-sdxl.safetensors").toString(), "--prompt",
                    "a photograph of an astronaut riding a horse", "--steps", "4", "--seed", "42", "--width", "16",
                    "--height", "16", "--backend", "cpu", "--out", out.toString());
        } finally {
            if (before == null) System.clearProperty(DemoModel.MODEL_PROPERTY);
            else System.setProperty(DemoModel.MODEL_PROPERTY, before);
        }
        assertEquals(0, r.exit(), r.err());
        byte[] png = Files.readAllBytes(out);
        String parameters = Png.textChunks(png).get("parameters");
        assertTrue(parameters.contains("CFG scale: 5.0") && parameters.contains("Sampler: Euler,")
                && parameters.contains("Model: tiny-sdxl"), parameters);
        float[] ref = SafeTensors.readAll(sets().resolve("sdxl/loop_euler_cfg5.safetensors")).get("image_01").toFloatArray();
        int diff = Png.maxPixelDiff(png, ref);                                                  // ref [1, 3, 16, 16]
        assertTrue(diff <= 1, "pixels vs diffusers' SDXL Euler loop on the folders: " + diff);
    }

    @Test
    void verifyFailsWhenTheCheckpointIsNotTheRecordedOne(@TempDir Path tmp) throws IOException {
        Path set = tmp.resolve("sd1");
        Files.createDirectories(set);
        try (var files = Files.list(sets().resolve("sd1"))) {
            for (Path f : files.toList()) Files.copy(f, set.resolve(f.getFileName()));
        }
        byte[] b = Files.readAllBytes(set.resolve("tiny-sd1.safetensors"));
        b[b.length - 1] ^= 1; // one bit of the last tensor
        Files.write(set.resolve("tiny-sd1.safetensors"), b);
        CliRun r = CliRun.run("verify", set.toString(), "--backend", "cpu");
        assertEquals(1, r.exit(), r.out());
        assertTrue(r.out().contains("has sha256") && r.out().contains("other weights"), r.out());
    }

    @Test
    void refusalsAreOneLineAndExitCode2(@TempDir Path tmp) throws IOException {
        Path pickle = Files.write(tmp.resolve("model.ckpt"), new byte[] {'P', 'K', 3, 4});
        assertRefused(generate(pickle), "is a pickle checkpoint", "can run arbitrary code", "convert");

        byte[] whole = Files.readAllBytes(sets().resolve("sd1/tiny-sd1.safetensors"));
        Path cut = Files.write(tmp.resolve("cut.safetensors"), Arrays.copyOf(whole, whole.length - 1000));
        assertRefused(generate(cut), "is not a complete safetensors file", "truncated");

        Map<String, Tensor> partial = new LinkedHashMap<>(SafeTensors.readAll(sets().resolve("sd1/tiny-sd1.safetensors")));
        partial.keySet().removeIf(k -> k.startsWith("first_stage_model.decoder.up.0.block.1."));
        Path missing = tmp.resolve("partial.safetensors");
        SafeTensors.write(missing, partial, Map.of());
        assertRefused(generate(missing), "incomplete SD 1.x checkpoint", "first_stage_model.decoder.up.0.block.1.norm1.weight");

        Path unknown = tmp.resolve("other.safetensors");
        SafeTensors.write(unknown, Map.of("transformer.h.0.attn.weight", Tensor.zeros(2, 2)), Map.of());
        assertRefused(generate(unknown), "not a Stable Diffusion checkpoint in the original (LDM) layout", "transformer.h.0.attn.weight");

        Path sdxl = tmp.resolve("sdxl.safetensors");
        SafeTensors.write(sdxl, Map.of("conditioner.embedders.0.transformer.text_model.final_layer_norm.weight", Tensor.zeros(4),
                "model.diffusion_model.out.2.weight", Tensor.zeros(4)), Map.of());
        assertRefused(generate(sdxl), "incomplete Stable Diffusion XL checkpoint", "conditioner.embedders.1.model.*");

        // the tiny SDXL file: without its OpenCLIP embedder, cut short, or with a tensor of the wrong shape
        Path sdxlFile = sets().resolve("sdxl/tiny-sdxl.safetensors");
        Map<String, Tensor> noBigG = new LinkedHashMap<>(SafeTensors.readAll(sdxlFile));
        noBigG.keySet().removeIf(k -> k.startsWith("conditioner.embedders.1."));
        Path noEmbedder = tmp.resolve("no-embedder.safetensors");
        SafeTensors.write(noEmbedder, noBigG, Map.of());
        assertRefused(generate(noEmbedder), "incomplete Stable Diffusion XL checkpoint", "(OpenCLIP ViT-bigG)");
        byte[] xl = Files.readAllBytes(sdxlFile);
        Path xlCut = Files.write(tmp.resolve("sdxl-cut.safetensors"), Arrays.copyOf(xl, xl.length - 1000));
        assertRefused(generate(xlCut), "is not a complete safetensors file", "truncated");
        Map<String, Tensor> wrong = new LinkedHashMap<>(SafeTensors.readAll(sdxlFile));
        wrong.put("model.diffusion_model.label_emb.0.2.bias", Tensor.zeros(7));
        Path badShape = tmp.resolve("sdxl-shape.safetensors");
        SafeTensors.write(badShape, wrong, Map.of());
        Files.copy(sets().resolve("sdxl/tiny-sdxl.yaml"), tmp.resolve("sdxl-shape.yaml"));
        assertRefused(generate(badShape), "SDXL checkpoint do not fit together", "model.diffusion_model.label_emb.0.2.bias: file has [7]");

        CliRun badType = CliRun.run("generate", "--model", sets().resolve("sd1/tiny-sd1.safetensors").toString(),
                "--prediction-type", "x0", "-p", "a", "-o", tmp.resolve("x.png").toString());
        assertRefused(badType, "unknown prediction type 'x0'");
    }

    private static CliRun generate(Path model) {
        return CliRun.run("generate", "--model", model.toString(), "-p", "a cat", "--steps", "2", "--backend", "cpu",
                "-o", model.resolveSibling("out.png").toString());
    }

    private static void assertRefused(CliRun r, String... expected) {
        assertEquals(2, r.exit(), r.err());
        assertEquals(1, r.errLines().size(), r.err());
        for (String e : expected) assertTrue(r.err().contains(e), "'" + e + "' not in: " + r.err());
    }
}
