package dev.panamadiffusion.cli;

import dev.panamadiffusion.io.SafeTensors;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.testing.Png;
import dev.panamadiffusion.testing.TinyModel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * LCM and SD-Turbo style sampling from the command line: {@code pdiff verify} on the repository's
 * {@code reference/few-step} sets, and {@code pdiff generate --scheduler LCM} / {@code --timestep-spacing trailing}
 * against the images diffusers recorded there.
 */
class FewStepCliTest {
    private static final String PROMPT = "a photograph of an astronaut riding a horse";

    @Test
    void everyCheckOfTheFewStepReferencePasses(@TempDir Path tmp) throws IOException {
        Path sets = TinyModel.fewStep(tmp.resolve("few-step"));
        CliRun r = CliRun.run("verify", sets.toString(), "--backend", "cpu");
        List<String> lines = r.out().lines().toList();
        assertTrue(lines.getLast().matches("\\d+ passed, 0 failed"), r.out() + r.err());
        assertEquals(0, r.exit(), r.out());
        for (String l : lines.subList(0, lines.size() - 1)) assertTrue(l.contains(" PASS"), l);
        List<String> expected = new ArrayList<>(List.of(
                "lcm/loop_lcm_cfg1 step 0 (t=999)", "lcm/loop_lcm_cfg1 step 3 (t=259)", "lcm/loop_lcm_cfg1 image_01",
                "lcm/loop_lcm_cfg1 noise = TorchCpuGenerator(11)", "lcm/loop_lcm_cfg1.5 step 2 (t=499)",
                "lcm/loop_lcm_cfg1.5 image_raw", "lcm_one_step/loop_lcm_cfg1 step 0 (t=999)", "lcm_one_step/loop_lcm_cfg1 image_01",
                "lcm_w/unet t=[999,259] with timestep_cond", "lcm_w/unet t=[999,259] without timestep_cond",
                "lcm_w/unet guidance embedding of w=[7,0.5]", "lcm_w/loop_lcm_cfg8 timestep_cond (embedding of w = 7.0)",
                "lcm_w/loop_lcm_cfg8 step 3 (t=259)", "lcm_w/loop_lcm_cfg8 image_01",
                "trailing/loop_euler_a_trailing_cfg0 step 0 (t=999)", "trailing/loop_euler_a_trailing_cfg0 image_01",
                "trailing/loop_euler_a_trailing_cfg1 step 3 (t=249)", "trailing/loop_euler_a_trailing_cfg1 noise = TorchCpuGenerator(22)",
                "trailing/loop_euler_trailing_cfg0 step 0 (t=999)", "trailing/loop_ddim_trailing_cfg0 step 1 (t=499)",
                "trailing/loop_ddim_trailing_cfg0 image_01"));
        for (String e : expected) {
            assertTrue(lines.stream().anyMatch(l -> l.startsWith(e)), "no check '" + e + "' in\n" + r.out());
        }
    }

    /**
     * The LCM-UNet loop replayed on a UNet without time_cond_proj_dim fails, saying why: guidance 8 would then run
     * classifier-free guidance, for which the loop records no negative embeddings; given some, the recorded
     * timestep_cond has no UNet input to go to.
     */
    @Test
    void wEmbeddingLoopOnAPlainUNetFails(@TempDir Path tmp) throws IOException {
        Path sets = TinyModel.fewStep(tmp.resolve("few-step"));
        Path set = sets.resolve("lcm_w");
        TinyModel.deleteTree(set.resolve("unet"));
        Files.delete(set.resolve("unet_io.safetensors"));
        // the shared tiny UNet (no time_cond_proj_dim) instead: components.json must then vouch for it
        Files.writeString(set.resolve("components.json"), Files.readString(sets.resolve("lcm/components.json")));
        CliRun r = CliRun.run("verify", set.toString(), "--backend", "cpu");
        assertEquals(1, r.exit(), r.out());
        assertTrue(line(r, "loop_lcm_cfg8 ").contains("FAIL  loop_lcm_cfg8.safetensors records no uncond_emb, but"
                + " guidance 8.0 on a UNet without time_cond_proj_dim runs classifier-free guidance"), r.out());
        Path loop = set.resolve("loop_lcm_cfg8.safetensors");
        Map<String, Tensor> tensors = new java.util.LinkedHashMap<>(SafeTensors.readAll(loop));
        tensors.put("uncond_emb", tensors.get("cond_emb"));
        Path edited = tmp.resolve("edited.safetensors"); // not over the file its tensors are mapped from
        SafeTensors.write(edited, tensors, Map.of("note", "uncond_emb added"));
        Files.move(edited, loop, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        CliRun again = CliRun.run("verify", set.toString(), "--backend", "cpu");
        assertEquals(1, again.exit(), again.out());
        String cond = line(again, "loop_lcm_cfg8 timestep_cond");
        assertTrue(cond.contains("FAIL") && cond.contains("the file records one but the UNet has no time_cond_proj_dim"), cond);
    }

    private static String line(CliRun r, String prefix) {
        return r.out().lines().filter(l -> l.startsWith(prefix)).findFirst()
                .orElseThrow(() -> new AssertionError("no line '" + prefix + "' in\n" + r.out()));
    }

    @Test
    void lcmSamplerMatchesDiffusers(@TempDir Path tmp) throws IOException {
        // LCM-LoRA style: the model's own (PNDM) config, sampler "LCM", 4 steps, guidance 1
        Path model = TinyModel.assemble(tmp.resolve("m"), "pndm", TinyModel.Tokenizer.FOLDED_CLIP);
        Path out = tmp.resolve("lcm.png");
        CliRun r = CliRun.run("generate", "--model", model.toString(), "--prompt", PROMPT, "--scheduler", "LCM",
                "--steps", "4", "--guidance", "1", "--seed", "11", "--backend", "cpu", "--out", out.toString());
        assertEquals(0, r.exit(), r.err());
        byte[] png = Files.readAllBytes(out);
        assertEquals(PROMPT + "\nSteps: 4, Sampler: LCM, CFG scale: 1.0, Seed: 11, Size: 16x16, Model: m, RNG: CPU",
                Png.textChunks(png).get("parameters"));
        assertTrue(maxPixelDiff(png, "lcm/loop_lcm_cfg1") <= 1, "pixels vs diffusers' LCM loop");
        // one step
        CliRun one = CliRun.run("generate", "--model", model.toString(), "--prompt", PROMPT, "--scheduler", "lcm",
                "--steps", "1", "--guidance", "1", "--seed", "13", "--backend", "cpu", "--out", out.toString());
        assertEquals(0, one.exit(), one.err());
        assertTrue(maxPixelDiff(Files.readAllBytes(out), "lcm_one_step/loop_lcm_cfg1") <= 1);
    }

    @Test
    void trailingSpacingMatchesDiffusersWithAnySampler(@TempDir Path tmp) throws IOException {
        Path pndmModel = TinyModel.assemble(tmp.resolve("p"), "pndm", TinyModel.Tokenizer.FOLDED_CLIP);
        Path out = tmp.resolve("turbo.png");
        // SD-Turbo style: Euler a picked by name, 1 step, guidance 0
        CliRun r = CliRun.run("generate", "--model", pndmModel.toString(), "--prompt", PROMPT, "--scheduler", "Euler a",
                "--timestep-spacing", "trailing", "--steps", "1", "--guidance", "0", "--seed", "21", "--backend", "cpu",
                "--out", out.toString());
        assertEquals(0, r.exit(), r.err());
        assertTrue(maxPixelDiff(Files.readAllBytes(out), "trailing/loop_euler_a_trailing_cfg0") <= 1);
        // the model's own DDIM config with its spacing overridden, 2 steps; without the override the image differs
        Path ddimModel = TinyModel.assemble(tmp.resolve("d"), "ddim", TinyModel.Tokenizer.FOLDED_CLIP);
        r = CliRun.run("generate", "--model", ddimModel.toString(), "--prompt", PROMPT, "--timestep-spacing", "trailing",
                "--steps", "2", "--guidance", "0", "--seed", "24", "--backend", "cpu", "--out", out.toString());
        assertEquals(0, r.exit(), r.err());
        assertTrue(maxPixelDiff(Files.readAllBytes(out), "trailing/loop_ddim_trailing_cfg0") <= 1);
        r = CliRun.run("generate", "--model", ddimModel.toString(), "--prompt", PROMPT,
                "--steps", "2", "--guidance", "0", "--seed", "24", "--backend", "cpu", "--out", out.toString());
        assertEquals(0, r.exit(), r.err());
        assertTrue(maxPixelDiff(Files.readAllBytes(out), "trailing/loop_ddim_trailing_cfg0") > 1,
                "leading spacing (501, 1) gives another image than trailing (999, 499)");
    }

    @Test
    void badSpacingAndTooManyLcmStepsAreUsageErrors(@TempDir Path tmp) throws IOException {
        // checked before the model is opened: the folder does not even exist
        CliRun r = CliRun.run("generate", "--model", tmp.resolve("nowhere").toString(), "--prompt", "x",
                "--timestep-spacing", "sideways", "--out", tmp.resolve("x.png").toString());
        assertEquals(2, r.exit(), r.err());
        assertEquals(List.of("error: --timestep-spacing: timestep spacing 'sideways' is not one of leading, linspace, trailing"),
                r.errLines());
        Path model = TinyModel.assemble(tmp.resolve("m"), "pndm", TinyModel.Tokenizer.TINY_BPE);
        r = CliRun.run("generate", "--model", model.toString(), "--prompt", "x", "--scheduler", "LCM", "--steps", "51",
                "--backend", "cpu", "--out", tmp.resolve("x.png").toString());
        assertEquals(2, r.exit(), r.err());
        assertEquals(1, r.errLines().size(), r.err());
        assertTrue(r.err().contains("steps 51") && r.err().contains("original_inference_steps 50"), r.err());
    }

    /** Largest difference of the PNG's 8-bit pixels from the loop's recorded image_01 (as numpy's round × 255). */
    private static int maxPixelDiff(byte[] png, String loop) throws IOException {
        Path file = Path.of(System.getProperty("pd.home", "..")).resolve("reference/few-step/" + loop + ".safetensors");
        Map<String, Tensor> rec = SafeTensors.readAll(file);
        return Png.maxPixelDiff(png, rec.get("image_01").toFloatArray()); // [1, 3, 16, 16]
    }
}
