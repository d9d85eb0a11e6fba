package dev.panamadiffusion.cli;

import dev.panamadiffusion.testing.TinyModel;

import dev.panamadiffusion.io.SafeTensors;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code pdiff verify} on the reference data, intact and deliberately corrupted. */
class VerifyCommandTest {

    @Test
    void everyCheckOfTheTinyReferencePasses() {
        CliRun r = CliRun.run("verify", TinyModel.reference().resolve("tiny").toString(), "--backend", "cpu");
        List<String> lines = r.out().lines().toList();
        String last = lines.getLast();
        assertTrue(last.matches("\\d+ passed, 0 failed"), r.out() + r.err());
        assertEquals(0, r.exit(), r.out());
        int passed = Integer.parseInt(last.substring(0, last.indexOf(' ')));
        assertEquals(lines.size() - 1, passed, "one line per check");
        for (String l : lines.subList(0, lines.size() - 1)) assertTrue(l.contains(" PASS"), l);
        // every kind of check ran: component forward passes, the scalar-timestep case, each loop to the image
        for (String expected : List.of("text_encoder last_hidden_state", "text_encoder pooler_output", "unet t=[10,500]",
                "unet t=500 (scalar)", "vae decode", "vae encode mean", "vae encode logvar", "unet folder == unet_weights",
                "loop_ddim_cfg7.5 step 3 (t=1)", "loop_pndm_cfg7.5 step 6 (t=1)", "loop_euler_a_cfg7.5 image_01",
                "loop_euler_a_cfg7.5 ancestral noise = TorchCpuGenerator(1234)", "loop_lms_cfg7.5 final latents",
                "loop_dpmpp2m_karras_cfg7.5 image_raw", "loop_dpmpp2m_cfg7.5 schedule", "loop_euler_cfg7.5 init latents")) {
            assertTrue(lines.stream().anyMatch(l -> l.startsWith(expected)), "no check '" + expected + "' in\n" + r.out());
        }
    }

    /**
     * reference/strength (tools/refgen/gen_strength.py): batches of 3 (one prompt) and 2 (a list of prompts), one step
     * of every scheduler, clip skip 1 and 2, A1111's n_iter noise; every check passes and every kind ran.
     */
    @Test
    void everyCheckOfTheStrengthReferencePasses(@TempDir Path tmp) throws IOException {
        Path sets = TinyModel.strength(tmp.resolve("strength"));
        CliRun r = CliRun.run("verify", sets.toString(), "--backend", "cpu");
        List<String> lines = r.out().lines().toList();
        assertTrue(lines.getLast().matches("\\d+ passed, 0 failed"), r.out() + r.err());
        assertEquals(0, r.exit(), r.out());
        for (String l : lines.subList(0, lines.size() - 1)) assertTrue(l.contains(" PASS"), l);
        List<String> expected = new java.util.ArrayList<>(List.of(
                "batch/loop_euler_a_cfg7.5 step 2 (t=0)", "batch/loop_euler_a_cfg7.5 image_raw",
                "batch/loop_euler_a_cfg7.5 noise = TorchCpuGenerator(31)", "batch/loop_dpmpp2m_cfg5 step 2 (t=333)",
                "batch/loop_dpmpp2m_cfg5 image_01", "clip_skip/text_encoder clip skip 1", "clip_skip/text_encoder clip skip 2",
                "n_iter/n_iter seed 1000 batch 2 iteration 0 (seed 1000)", "n_iter/n_iter seed 1000 batch 2 iteration 2 (seed 1004)"));
        for (String s : List.of("ddim", "pndm", "euler", "euler_a", "dpmpp2m", "dpmpp2m_karras", "lms")) {
            expected.add("one_step/loop_" + s + "_cfg7.5 step 0 ");
            expected.add("one_step/loop_" + s + "_cfg7.5 image_raw");
            expected.add("one_step/loop_" + s + "_cfg7.5 noise = TorchCpuGenerator(7)");
        }
        for (String e : expected) {
            assertTrue(lines.stream().anyMatch(l -> l.startsWith(e)), "no check '" + e + "' in\n" + r.out());
        }
    }

    /** A set whose components.json records other weights (or points nowhere) fails, naming the file. */
    @Test
    void componentsOfOtherWeightsFail(@TempDir Path tmp) throws IOException {
        Path sets = TinyModel.strength(tmp.resolve("strength"));
        Path json = sets.resolve("one_step/components.json");
        String text = Files.readString(json);
        String hash = text.substring(text.indexOf("unet/diffusion_pytorch_model.safetensors\":\"") + 43).substring(0, 64);
        Files.writeString(json, text.replace(hash, "0".repeat(64)));
        Files.writeString(sets.resolve("clip_skip/components.json"), "{\"components_from\": \"nowhere\"}");
        CliRun r = CliRun.run("verify", sets.toString(), "--backend", "cpu");
        assertEquals(1, r.exit(), r.out());
        List<String> lines = r.out().lines().toList();
        String pndm = line(lines, "one_step/loop_pndm_cfg7.5");
        assertTrue(pndm.contains("FAIL") && pndm.contains("unet/diffusion_pytorch_model.safetensors has sha256 " + hash), pndm);
        String clip = line(lines, "clip_skip/text_encoder");
        assertTrue(clip.contains("FAIL") && clip.contains("no text_encoder/ folder"), clip);
        assertTrue(line(lines, "batch/loop_dpmpp2m_cfg5 image_raw").contains(" PASS"), r.out());
    }

    @Test
    void tokenizerAndNoiseGeneratorReferencesPass() {
        for (String dir : List.of("tokenizer", "rng")) {
            CliRun r = CliRun.run("verify", TinyModel.reference().resolve(dir).toString());
            assertEquals(0, r.exit(), r.out() + r.err());
            assertTrue(r.out().lines().toList().getLast().matches("[1-9]\\d* passed, 0 failed"), r.out());
        }
    }

    @Test
    void corruptedReferenceFails(@TempDir Path tmp) throws IOException {
        Path tiny = TinyModel.reference().resolve("tiny");
        Path copy = tmp.resolve("tiny");
        for (String d : List.of("unet", "vae", "scheduler_ddim")) TinyModel.copyDir(tiny.resolve(d), copy.resolve(d));
        perturb(tiny.resolve("unet_io.safetensors"), copy.resolve("unet_io.safetensors"), "out", 17, 1e-2f);
        perturb(tiny.resolve("loop_ddim_cfg7.5.safetensors"), copy.resolve("loop_ddim_cfg7.5.safetensors"),
                "step2_latents_out", 5, 5e-2f);

        CliRun r = CliRun.run("verify", copy.toString(), "--backend", "cpu");
        assertEquals(1, r.exit(), r.out());
        List<String> lines = r.out().lines().toList();
        assertTrue(line(lines, "unet t=[10,500]").contains(" FAIL"), r.out());
        assertTrue(line(lines, "unet t=500 (scalar)").contains(" PASS"), r.out());
        String step2 = line(lines, "loop_ddim_cfg7.5 step 2");
        assertTrue(step2.contains(" FAIL") && step2.contains("latents_out"), step2);
        assertTrue(line(lines, "loop_ddim_cfg7.5 step 1").contains(" PASS"), r.out());
        assertTrue(lines.getLast().matches("\\d+ passed, 2 failed"), r.out());
    }

    @Test
    void referenceFilesMissingTheirOutputsFailAndSayWhich(@TempDir Path tmp) throws IOException {
        Path tiny = TinyModel.reference().resolve("tiny");
        Path copy = tmp.resolve("tiny");
        for (String d : List.of("unet", "scheduler_ddim", "scheduler_euler")) TinyModel.copyDir(tiny.resolve(d), copy.resolve(d));
        // a UNet file with its inputs but none of its outputs
        strip(tiny.resolve("unet_io.safetensors"), copy.resolve("unet_io.safetensors"), k -> k.startsWith("out"));
        // a loop missing one half of the UNet output at every step
        strip(tiny.resolve("loop_ddim_cfg7.5.safetensors"), copy.resolve("loop_ddim_cfg7.5.safetensors"),
                k -> k.endsWith("_noise_text") || k.startsWith("image_"));
        // a loop missing one step's latents, and recording images with no vae/ folder to decode them
        strip(tiny.resolve("loop_euler_cfg7.5.safetensors"), copy.resolve("loop_euler_cfg7.5.safetensors"), k -> k.equals("step2_latents_out"));

        CliRun r = CliRun.run("verify", copy.toString(), "--backend", "cpu");
        assertEquals(1, r.exit(), r.out());
        List<String> lines = r.out().lines().toList();
        assertTrue(line(lines, "unet ").contains("FAIL") && line(lines, "unet ").contains("records nothing to compare"), r.out());
        String ddim = line(lines, "loop_ddim_cfg7.5");
        assertTrue(ddim.contains("FAIL") && ddim.contains("only one half of the UNet output"), ddim);
        String euler = line(lines, "loop_euler_cfg7.5");
        assertTrue(euler.contains("FAIL") && euler.contains("no vae/ folder"), euler);
        assertTrue(lines.getLast().matches("\\d+ passed, 3 failed"), r.out());

        // with the images gone too, the missing step is what fails
        strip(tiny.resolve("loop_euler_cfg7.5.safetensors"), copy.resolve("loop_euler_cfg7.5.safetensors"),
                k -> k.equals("step2_latents_out") || k.startsWith("image_"));
        CliRun again = CliRun.run("verify", copy.toString(), "--backend", "cpu");
        String missingStep = line(again.out().lines().toList(), "loop_euler_cfg7.5");
        assertTrue(missingStep.contains("FAIL") && missingStep.contains("step0_latents_out but no step2_latents_out"), missingStep);
    }

    @Test
    void missingOrEmptyFolder(@TempDir Path tmp) {
        CliRun missing = CliRun.run("verify", tmp.resolve("nope").toString());
        assertEquals(2, missing.exit());
        assertEquals(List.of("error: reference folder " + tmp.resolve("nope") + " does not exist"), missing.errLines());
        CliRun empty = CliRun.run("verify", tmp.toString(), "--backend", "cpu");
        assertEquals(1, empty.exit());
        assertEquals(1, empty.errLines().size(), empty.err());
        assertTrue(empty.errLines().get(0).startsWith("error: no reference files in " + tmp), empty.err());
    }

    private static String line(List<String> lines, String prefix) {
        return lines.stream().filter(l -> l.startsWith(prefix)).findFirst()
                .orElseThrow(() -> new AssertionError("no line '" + prefix + "' in\n" + String.join("\n", lines)));
    }

    /** Copies {@code from} to {@code to} without the tensors whose keys {@code drop} accepts. */
    private static void strip(Path from, Path to, java.util.function.Predicate<String> drop) throws IOException {
        Map<String, Tensor> tensors = new LinkedHashMap<>(SafeTensors.readAll(from));
        tensors.keySet().removeIf(drop);
        SafeTensors.write(to, tensors, Map.of("note", "keys removed"));
    }

    /** Copies {@code from} to {@code to} with element {@code index} of tensor {@code key} increased by {@code delta}. */
    private static void perturb(Path from, Path to, String key, int index, float delta) throws IOException {
        Map<String, Tensor> tensors = new LinkedHashMap<>(SafeTensors.readAll(from));
        float[] v = tensors.get(key).toFloatArray();
        v[index] += delta;
        tensors.put(key, Tensor.fromFloats(v, tensors.get(key).shape()));
        SafeTensors.write(to, tensors, Map.of("note", "perturbed " + key + "[" + index + "]"));
        assertFalse(Files.size(to) == 0);
    }
}
