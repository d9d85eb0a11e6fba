package dev.panamadiffusion.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.panamadiffusion.io.SafeTensors;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.testing.TinyModel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * LoRAs through the CLI: {@code verify} replays reference/lora (diffusers' fused outputs), {@code generate --lora}
 * changes the image and refuses a LoRA for another model with one line and exit code 2.
 */
class LoraCliTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * reference/lora copied to {@code dest}, each components.json pointing at the shared tiny models (the SD 1.x sets),
     * the repository's reference/sdxl (the SDXL sets) or reference/single-file/sdxl's checkpoint, by absolute path.
     */
    static Path sets(Path dest) throws IOException {
        Path src = Path.of(System.getProperty("pd.home", "..")).resolve("reference/lora");
        assertTrue(Files.isDirectory(src.resolve("loras")), "reference/lora missing at " + src.toAbsolutePath());
        TinyModel.copyDir(src, dest);
        String tiny = TinyModel.reference().resolve("tiny").toAbsolutePath().toString();
        try (var files = Files.walk(dest)) {
            for (Path f : files.filter(f -> f.getFileName().toString().equals("components.json")).toList()) {
                ObjectNode json = (ObjectNode) JSON.readTree(f.toFile());
                Path original = src.resolve(dest.relativize(f.getParent()).toString());
                if (json.has("checkpoint")) { // the single-file SDXL set: reference/single-file/sdxl's checkpoint
                    json.put("checkpoint", original.resolve(json.get("checkpoint").asText()).normalize().toAbsolutePath().toString());
                } else {
                    String from = json.get("components_from").asText();
                    json.put("components_from", from.endsWith("/tiny") ? tiny : original.resolve(from).normalize().toAbsolutePath().toString());
                }
                JSON.writeValue(f.toFile(), json);
            }
        }
        return dest;
    }

    @Test
    void verifyReplaysEveryLoraSet(@TempDir Path tmp) throws IOException {
        CliRun r = CliRun.run("verify", sets(tmp.resolve("lora")).toString(), "--backend", "cpu");
        List<String> lines = r.out().lines().toList();
        assertEquals("143 passed, 0 failed", lines.getLast(), r.out() + r.err());
        assertEquals(0, r.exit());
        for (String set : List.of("kohya/", "kohya_ldm/", "peft/", "diffusers_old/", "two/", "removed/")) {
            for (String check : List.of("text_encoder last_hidden_state", "unet t=[10,500]", "loop_euler_cfg7.5 image_01")) {
                assertTrue(lines.stream().anyMatch(l -> l.startsWith(set + check) && l.endsWith("PASS")), set + check + "\n" + r.out());
            }
        }
        for (String set : List.of("sdxl_kohya/", "sdxl_kohya_hf/", "sdxl_peft/", "sdxl_diffusers/", "sdxl_two/", "sdxl_removed/")) {
            for (String check : List.of("text_encoder hidden_state_penultimate", "text_encoder_2 hidden_state_penultimate",
                    "text_encoder_2 text_embeds", "unet t=[10,500]")) {
                assertTrue(lines.stream().anyMatch(l -> l.startsWith(set + check) && l.endsWith("PASS")), set + check + "\n" + r.out());
            }
        }
        for (String set : List.of("sdxl_kohya/", "sdxl_file_kohya/")) { // the folders and the single file, loop included
            for (String check : List.of("text_encoder_2 text_embeds", "unet t=[10,500]", "loop_euler_cfg5 image_01")) {
                assertTrue(lines.stream().anyMatch(l -> l.startsWith(set + check) && l.endsWith("PASS")), set + check + "\n" + r.out());
            }
        }
    }

    @Test
    void verifyFailsWithoutTheRecordedLora(@TempDir Path tmp) throws IOException {
        Path set = sets(tmp.resolve("lora")).resolve("kohya");
        ObjectNode json = (ObjectNode) JSON.readTree(set.resolve("components.json").toFile());
        json.remove("loras");
        JSON.writeValue(set.resolve("components.json").toFile(), json);
        CliRun r = CliRun.run("verify", set.toString(), "--backend", "cpu");
        assertEquals(1, r.exit(), r.out());
        assertTrue(r.out().lines().anyMatch(l -> l.startsWith("unet t=[10,500]") && l.contains(" FAIL")), r.out());
    }

    private static byte[] pixels(Path png) throws IOException {
        return Files.readAllBytes(png);
    }

    @Test
    void generateAppliesLorasAndRefusesOnesForOtherModels(@TempDir Path tmp) throws IOException {
        Path model = TinyModel.assemble(tmp.resolve("m"), "euler", TinyModel.Tokenizer.FOLDED_CLIP);
        Path loras = sets(tmp.resolve("lora")).resolve("loras");
        String[] base = {"generate", "--model", model.toString(), "--prompt", "a horse", "--steps", "2", "--seed", "3",
                "--backend", "cpu"};
        CliRun plain = CliRun.run(concat(base, "--out", tmp.resolve("plain.png").toString()));
        assertEquals(0, plain.exit(), plain.err());
        CliRun one = CliRun.run(concat(base, "--lora", loras.resolve("kohya.safetensors") + ":0.8", "--out",
                tmp.resolve("one.png").toString()));
        assertEquals(0, one.exit(), one.err());
        CliRun two = CliRun.run(concat(base, "--lora", loras.resolve("kohya.safetensors") + ":0.8", "--lora",
                loras.resolve("peft.safetensors") + ":0.6", "--out", tmp.resolve("two.png").toString()));
        assertEquals(0, two.exit(), two.err());
        CliRun zero = CliRun.run(concat(base, "--lora", loras.resolve("kohya.safetensors") + ":0", "--out",
                tmp.resolve("zero.png").toString()));
        assertEquals(0, zero.exit(), zero.err());
        assertFalse(java.util.Arrays.equals(pixels(tmp.resolve("plain.png")), pixels(tmp.resolve("one.png"))));
        assertFalse(java.util.Arrays.equals(pixels(tmp.resolve("one.png")), pixels(tmp.resolve("two.png"))));
        assertArrayEquals(pixels(tmp.resolve("plain.png")), pixels(tmp.resolve("zero.png"))); // scale 0 adds exact zeros

        String k = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q";
        Path sdxl = tmp.resolve("sdxl.safetensors");
        SafeTensors.write(sdxl, Map.of(k + ".lora_down.weight", Tensor.zeros(4, 640), k + ".lora_up.weight", Tensor.zeros(640, 4)),
                Map.of());
        CliRun refused = CliRun.run(concat(base, "--lora", sdxl.toString(), "--out", tmp.resolve("x.png").toString()));
        assertEquals(2, refused.exit(), refused.err());
        assertEquals(1, refused.err().strip().lines().count(), refused.err());
        assertTrue(refused.err().contains("does not fit this model") && refused.err().contains(k), refused.err());
        assertFalse(Files.exists(tmp.resolve("x.png")));

        CliRun missing = CliRun.run(concat(base, "--lora", tmp.resolve("nope.safetensors") + ":0.5", "--out", tmp.resolve("y.png").toString()));
        assertEquals(2, missing.exit(), missing.err());
        assertTrue(missing.err().contains("no such file"), missing.err());
        CliRun badScale = CliRun.run(concat(base, "--lora", sdxl + ":1.x", "--out", tmp.resolve("y.png").toString()));
        assertEquals(2, badScale.exit(), badScale.err());
    }

    private static String[] concat(String[] a, String... b) {
        String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
