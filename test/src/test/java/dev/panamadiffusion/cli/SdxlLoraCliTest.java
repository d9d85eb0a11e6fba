package dev.panamadiffusion.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.panamadiffusion.io.DemoModel;
import dev.panamadiffusion.io.SafeTensors;
import dev.panamadiffusion.testing.Png;
import dev.panamadiffusion.testing.TinyModel;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * SDXL LoRAs through the CLI: {@code generate --model reference/sdxl --lora} (and the same model as a single file)
 * paints what diffusers' StableDiffusionXLPipeline painted with the LoRA fused (reference/lora/sdxl_kohya's loop);
 * an SD 1.5 LoRA on SDXL and an SDXL LoRA on SD 1.5 are refused with one line and exit code 2; {@code verify} fails
 * an SDXL set replayed without its LoRA, or without removing it.
 */
class SdxlLoraCliTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String PROMPT = "a photograph of an astronaut riding a horse";

    private static Path home() { return Path.of(System.getProperty("pd.home", "..")); }

    private static Path lora(String name) { return home().resolve("reference/lora/loras/" + name + ".safetensors"); }

    /** The set's loop (4 Euler steps, guidance 5, seed 42, no negative prompt) as diffusers painted it: [1, 3, 16, 16]. */
    private static float[] diffusersImage(String set) {
        return SafeTensors.readAll(home().resolve("reference/lora/" + set + "/loop_euler_cfg5.safetensors")).get("image_01").toFloatArray();
    }

    private static CliRun generate(Path model, Path out, String... lora) {
        String[] base = {"generate", "--model", model.toString(), "--prompt", PROMPT, "--steps", "4", "--seed", "42",
                "--width", "16", "--height", "16", "--backend", "cpu", "--out", out.toString()};
        String[] args = java.util.Arrays.copyOf(base, base.length + lora.length);
        System.arraycopy(lora, 0, args, base.length, lora.length);
        return CliRun.run(args);
    }

    @Test
    void generateWithAnSdxlLoraPaintsWhatDiffusersPainted(@TempDir Path tmp) throws IOException {
        Path model = home().resolve("reference/sdxl");
        assertTrue(Files.isDirectory(model.resolve("text_encoder_2")), "reference/sdxl missing at " + model.toAbsolutePath());
        float[] ref = diffusersImage("sdxl_kohya");
        CliRun with = generate(model, tmp.resolve("lora.png"), "--lora", lora("sdxl_kohya") + ":0.8");
        assertEquals(0, with.exit(), with.err());
        int diff = Png.maxPixelDiff(Files.readAllBytes(tmp.resolve("lora.png")), ref);
        assertTrue(diff <= 1, "pixels vs diffusers' SDXL loop with the kohya LoRA at 0.8: " + diff);
        CliRun plain = generate(model, tmp.resolve("plain.png"));
        assertEquals(0, plain.exit(), plain.err());
        int plainDiff = Png.maxPixelDiff(Files.readAllBytes(tmp.resolve("plain.png")), ref);
        assertTrue(plainDiff > 8, "without the LoRA the picture should be far from the LoRA's: " + plainDiff);
    }

    /**
     * A kohya LoRA made for reference/single-file/sdxl's model (another tiny SDXL: hidden 64, two encoder layers) on
     * that model as one LDM safetensors file: the picture diffusers painted on its folders with the LoRA fused.
     */
    @Test
    void generateWithAnSdxlLoraOnTheSingleFile(@TempDir Path tmp) throws IOException {
        Path demo = tmp.resolve("demo"); // the file holds no tokenizer: the 1,000-id BPE the loop was recorded with
        Files.createDirectories(demo.resolve("tokenizer"));
        Files.writeString(demo.resolve("model_index.json"), "{\"_class_name\": \"StableDiffusionPipeline\"}");
        try (var files = Files.list(home().resolve("reference/sdxl/tokenizer"))) {
            for (Path f : files.toList()) Files.copy(f, demo.resolve("tokenizer").resolve(f.getFileName()));
        }
        String before = System.getProperty(DemoModel.MODEL_PROPERTY);
        System.setProperty(DemoModel.MODEL_PROPERTY, demo.toString());
        CliRun r;
        try {
            r = generate(home().resolve("reference/single-file/sdxl/tiny-sdxl.safetensors"), tmp.resolve("file.png"),
                    "--lora", lora("sdxl_file_kohya") + ":0.9");
        } finally {
            if (before == null) System.clearProperty(DemoModel.MODEL_PROPERTY);
            else System.setProperty(DemoModel.MODEL_PROPERTY, before);
        }
        assertEquals(0, r.exit(), r.err());
        int diff = Png.maxPixelDiff(Files.readAllBytes(tmp.resolve("file.png")), diffusersImage("sdxl_file_kohya"));
        assertTrue(diff <= 1, "pixels vs diffusers' SDXL loop with the kohya LoRA at 0.9: " + diff);
    }

    private static void assertRefused(CliRun r, Path out, String... parts) {
        assertEquals(2, r.exit(), r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        for (String p : parts) assertTrue(r.err().contains(p), p + " in " + r.err());
        assertFalse(Files.exists(out));
    }

    @Test
    void loraForTheOtherArchitectureIsRefusedWithOneLine(@TempDir Path tmp) throws IOException {
        Path xl = tmp.resolve("xl.png");
        assertRefused(generate(home().resolve("reference/sdxl"), xl, "--lora", lora("kohya") + ":0.8"), xl,
                "does not fit this model", "kohya.safetensors", "SD 1.x/2.x on SDXL");
        Path sd = TinyModel.assemble(tmp.resolve("m"), "euler", TinyModel.Tokenizer.FOLDED_CLIP);
        Path sd15 = tmp.resolve("sd.png");
        CliRun r = CliRun.run("generate", "--model", sd.toString(), "--prompt", "a horse", "--steps", "2", "--backend", "cpu",
                "--lora", lora("sdxl_kohya") + ":0.8", "--out", sd15.toString());
        assertRefused(r, sd15, "does not fit this model", "sdxl_kohya.safetensors", "SDXL on SD 1.5");
    }

    /** The SDXL LoRA sets on the CUDA path (NVIDIA's driver, or the CUDA emulator in CI) at the f16 tolerances. */
    @Test
    @Tag("gpu")
    void verifyPassesTheSdxlSetsOnTheCudaPath(@TempDir Path tmp) throws IOException {
        Path sets = LoraCliTest.sets(tmp.resolve("lora"));
        for (String set : java.util.List.of("sdxl_two", "sdxl_removed", "sdxl_kohya", "sdxl_file_kohya")) {
            CliRun r = CliRun.run("verify", sets.resolve(set).toString(), "--backend", TinyModel.cudaBackend());
            java.util.List<String> lines = r.out().lines().toList();
            assertEquals(0, r.exit(), r.out() + r.err());
            assertTrue(lines.getLast().matches("\\d+ passed, 0 failed"), r.out());
            assertTrue(lines.stream().anyMatch(l -> l.startsWith("text_encoder_2 text_embeds") && l.endsWith("PASS")), r.out());
            if (set.endsWith("kohya")) {
                assertTrue(lines.stream().anyMatch(l -> l.startsWith("loop_euler_cfg5 [cuda graph] image_01")), r.out());
            }
        }
    }

    private static void edit(Path components, java.util.function.Consumer<ObjectNode> change) throws IOException {
        ObjectNode json = (ObjectNode) JSON.readTree(components.toFile());
        change.accept(json);
        JSON.writeValue(components.toFile(), json);
    }

    @Test
    void verifyFailsWithoutTheLoraOrWithoutRemovingIt(@TempDir Path tmp) throws IOException {
        Path sets = LoraCliTest.sets(tmp.resolve("lora"));
        edit(sets.resolve("sdxl_kohya/components.json"), j -> j.remove("loras"));
        CliRun r = CliRun.run("verify", sets.resolve("sdxl_kohya").toString(), "--backend", "cpu");
        assertEquals(1, r.exit(), r.out());
        for (String check : java.util.List.of("text_encoder_2 text_embeds", "text_encoder hidden_state_penultimate", "unet t=[10,500]")) {
            assertTrue(r.out().lines().anyMatch(l -> l.startsWith(check) && l.contains(" FAIL")), check + "\n" + r.out());
        }
        edit(sets.resolve("sdxl_removed/components.json"), j -> j.put("remove_loras", false));
        r = CliRun.run("verify", sets.resolve("sdxl_removed").toString(), "--backend", "cpu");
        assertEquals(1, r.exit(), r.out());
        assertTrue(r.out().lines().anyMatch(l -> l.startsWith("text_encoder_2 hidden_state_penultimate") && l.contains(" FAIL")), r.out());
    }
}
