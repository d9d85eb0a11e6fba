package dev.panamadiffusion.lora;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.backend.cpu.CpuBackend;
import dev.panamadiffusion.io.ModelFolder;
import dev.panamadiffusion.io.SafeTensors;
import dev.panamadiffusion.models.clip.CLIPTextModel;
import dev.panamadiffusion.models.clip.CLIPTextModelWithProjection;
import dev.panamadiffusion.models.clip.CLIPTextOutput;
import dev.panamadiffusion.models.unet.UNet2DConditionModel;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.testing.TinyModel;
import dev.panamadiffusion.weights.Param;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * SDXL LoRAs (UNet and both text encoders; kohya with SDXL's LDM names and with diffusers names, PEFT, diffusers' own
 * format) merged into reference/sdxl's tiny model, against what diffusers 0.27.2 computed with the same LoRAs fused
 * (reference/lora/sdxl_*, tools/refgen/gen_lora_sdxl.py); removal bit for bit; SD 1.5 LoRAs on SDXL and SDXL LoRAs on
 * SD 1.5 refused by name.
 */
class SdxlLoraTest {
    private static final Backend CPU = new CpuBackend();
    private static Arena arena;
    private static UNet2DConditionModel unet;
    private static CLIPTextModel textEncoder;
    private static CLIPTextModelWithProjection textEncoder2;
    private static LoraPatcher patcher;

    static Path lora(String name) { return LoraTest.lora(name); }

    @BeforeAll
    static void load() {
        arena = Arena.ofShared();
        Path sdxl = LoraTest.sets().resolveSibling("sdxl");
        assertTrue(Files.isDirectory(sdxl.resolve("text_encoder_2")), "reference/sdxl missing at " + sdxl.toAbsolutePath());
        unet = UNet2DConditionModel.load(sdxl.resolve("unet"), CPU, arena);
        textEncoder = CLIPTextModel.load(sdxl.resolve("text_encoder"), CPU, arena);
        textEncoder2 = CLIPTextModelWithProjection.load(sdxl.resolve("text_encoder_2"), CPU, arena);
        patcher = LoraPatcher.ofSdxl(CPU, unet, textEncoder, textEncoder2);
    }

    @AfterAll
    static void close() {
        patcher.clear();
        arena.close();
    }

    /** An SDXL model's three LoRA-patched components. */
    private record Xl(UNet2DConditionModel unet, CLIPTextModel te, CLIPTextModelWithProjection te2) {}

    private static Xl folders() { return new Xl(unet, textEncoder, textEncoder2); }

    private static Map<String, Tensor> io(String set, String component) {
        return SafeTensors.readAll(LoraTest.sets().resolve(set + "/" + component + "_io.safetensors"));
    }

    private static float[] unetOut(Map<String, Tensor> io) { return unetOut(folders(), io); }

    private static float[] unetOut(Xl m, Map<String, Tensor> io) {
        UNet2DConditionModel unet = m.unet();
        Tensor ts = io.get("timesteps");
        double[] t = new double[Math.toIntExact(ts.numel())];
        for (int i = 0; i < t.length; i++) t[i] = ts.getDouble(i);
        Tensor add = unet.addEmbeds(io.get("text_embeds"), io.get("time_ids"));
        return CPU.download(unet.forward(CPU.upload(io.get("sample")), t, null, add, CPU.upload(io.get("encoder_hidden_states")),
                () -> {})).toFloatArray();
    }

    /** Every output of both text encoders the set recorded, by key, in the order checked. */
    private static Map<String, float[]> textOuts(Map<String, Tensor> te, Map<String, Tensor> te2) { return textOuts(folders(), te, te2); }

    private static Map<String, float[]> textOuts(Xl m, Map<String, Tensor> te, Map<String, Tensor> te2) {
        CLIPTextModel textEncoder = m.te();
        CLIPTextModelWithProjection textEncoder2 = m.te2();
        Map<String, float[]> out = new LinkedHashMap<>();
        CLIPTextOutput o = textEncoder.forward(te.get("input_ids"), 1, false);
        out.put("text_encoder hidden_state_penultimate", CPU.download(o.hiddenState()).toFloatArray());
        out.put("text_encoder last_hidden_state", CPU.download(textEncoder.forward(te.get("input_ids")).lastHiddenState()).toFloatArray());
        CLIPTextOutput o2 = textEncoder2.forward(te2.get("input_ids"), 1, false);
        out.put("text_encoder_2 hidden_state_penultimate", CPU.download(o2.hiddenState()).toFloatArray());
        CLIPTextOutput last2 = textEncoder2.forward(te2.get("input_ids"), 0, true);
        out.put("text_encoder_2 last_hidden_state", CPU.download(last2.lastHiddenState()).toFloatArray());
        out.put("text_encoder_2 text_embeds", CPU.download(textEncoder2.textEmbeds(last2)).toFloatArray());
        return out;
    }

    private static Map<String, float[]> recorded(Map<String, Tensor> te, Map<String, Tensor> te2) {
        Map<String, float[]> out = new LinkedHashMap<>();
        out.put("text_encoder hidden_state_penultimate", te.get("hidden_state_penultimate").toFloatArray());
        out.put("text_encoder last_hidden_state", te.get("last_hidden_state").toFloatArray());
        out.put("text_encoder_2 hidden_state_penultimate", te2.get("hidden_state_penultimate").toFloatArray());
        out.put("text_encoder_2 last_hidden_state", te2.get("last_hidden_state").toFloatArray());
        out.put("text_encoder_2 text_embeds", te2.get("text_embeds").toFloatArray());
        return out;
    }

    /** max |a - b| / max |b|. */
    private static double relative(float[] a, float[] b) {
        assertEquals(b.length, a.length);
        double diff = 0, scale = 0;
        for (int i = 0; i < b.length; i++) {
            diff = Math.max(diff, Math.abs(a[i] - b[i]));
            scale = Math.max(scale, Math.abs(b[i]));
        }
        return diff / scale;
    }

    /** The largest relative error of the UNet and every text-encoder output against {@code set}'s recording. */
    private static Map<String, Double> errors(String set) { return errors(folders(), set); }

    private static Map<String, Double> errors(Xl m, String set) {
        Map<String, Tensor> u = io(set, "unet"), te = io(set, "text_encoder"), te2 = io(set, "text_encoder_2");
        Map<String, Double> err = new LinkedHashMap<>();
        err.put("unet", relative(unetOut(m, u), u.get("out").toFloatArray()));
        Map<String, float[]> want = recorded(te, te2);
        textOuts(m, te, te2).forEach((k, v) -> err.put(k, relative(v, want.get(k))));
        return err;
    }

    private static void assertMatchesDiffusers(String set, List<LoraSpec> specs) {
        patcher.set(specs);
        try {
            errors(set).forEach((k, r) -> assertTrue(r < 1e-4, set + ": " + k + " relative error " + r));
        } finally {
            patcher.clear();
        }
    }

    @Test
    void kohyaWithSdxlLdmNamesMatchesDiffusers() { // input_blocks_3_1..., middle_block_1_transformer_blocks_1: per-level depth
        assertMatchesDiffusers("sdxl_kohya", List.of(new LoraSpec(lora("sdxl_kohya"), 0.8)));
    }

    @Test
    void kohyaWithDiffusersNamesMatchesDiffusers() {
        assertMatchesDiffusers("sdxl_kohya_hf", List.of(new LoraSpec(lora("sdxl_kohya_hf"), 0.7)));
    }

    @Test
    void peftLayoutMatchesDiffusers() { assertMatchesDiffusers("sdxl_peft", List.of(new LoraSpec(lora("sdxl_peft"), 1.0))); }

    @Test
    void diffusersOwnLayoutMatchesDiffusers() {
        assertMatchesDiffusers("sdxl_diffusers", List.of(new LoraSpec(lora("sdxl_diffusers"), 0.5)));
    }

    @Test
    void twoLorasAtOnceMatchDiffusers() {
        assertMatchesDiffusers("sdxl_two", List.of(new LoraSpec(lora("sdxl_kohya"), 0.8), new LoraSpec(lora("sdxl_peft"), 0.6)));
    }

    @Test
    void theWrongScaleMatchesNoOutput() { // the comparison above can fail: every output is far off at another scale
        patcher.set(List.of(new LoraSpec(lora("sdxl_kohya"), 0.4)));
        try {
            errors("sdxl_kohya").forEach((k, r) -> assertTrue(r > 1e-3, k + " relative error " + r));
        } finally {
            patcher.clear();
        }
    }

    private static List<Param> params() {
        List<Param> all = new ArrayList<>(unet.params().values());
        all.addAll(textEncoder.params().values());
        all.addAll(textEncoder2.params().values());
        return all;
    }

    @Test
    void removingRestoresTheBaseWeightsBitForBit() {
        Map<Param, Tensor> before = new LinkedHashMap<>();
        for (Param p : params()) before.put(p, p.tensor());
        Map<String, Double> base = errors("sdxl_removed");   // the base model against diffusers' base outputs
        base.forEach((k, r) -> assertTrue(r < 1e-4, "base " + k + " relative error " + r));
        Map<String, Tensor> u = io("sdxl_removed", "unet"), te = io("sdxl_removed", "text_encoder"), te2 = io("sdxl_removed", "text_encoder_2");
        float[] baseU = unetOut(u);
        Map<String, float[]> baseT = textOuts(te, te2);
        patcher.set(List.of(new LoraSpec(lora("sdxl_kohya"), 0.8), new LoraSpec(lora("sdxl_peft"), 0.6)));
        long touched = params().stream().filter(Param::isPatched).count();
        assertTrue(touched > 0 && textEncoder2.params().values().stream().anyMatch(Param::isPatched), "patched " + touched);
        assertFalse(java.util.Arrays.equals(baseU, unetOut(u)));
        patcher.set(List.of(new LoraSpec(lora("sdxl_diffusers"), 1.0))); // replacing merges from the base again
        patcher.clear();
        assertEquals(0, patcher.patchedWeights());
        for (Param p : params()) {
            assertSame(before.get(p), p.tensor(), p.key());
            assertArrayEquals(p.host().toFloatArray(), CPU.download(p.tensor()).toFloatArray(), p.key());
        }
        assertArrayEquals(baseU, unetOut(u));
        Map<String, float[]> after = textOuts(te, te2);
        baseT.forEach((k, v) -> assertArrayEquals(v, after.get(k), k));
    }

    @Test
    void anSd15LoraIsRefusedOnSdxlAndTheActiveLorasStay() {
        patcher.set(List.of(new LoraSpec(lora("sdxl_peft"), 1.0)));
        int patched = patcher.patchedWeights();
        try {
            for (String sd15 : List.of("kohya", "peft", "kohya_ldm")) {
                LoraException e = assertThrows(LoraException.class, () -> patcher.set(List.of(new LoraSpec(lora(sd15), 1.0))));
                assertTrue(e.getMessage().contains("does not fit this model") && e.getMessage().contains("SD 1.x/2.x on SDXL")
                        && !e.getMessage().contains("\n"), e.getMessage());
                assertEquals(patched, patcher.patchedWeights());
                assertEquals(List.of(new LoraSpec(lora("sdxl_peft"), 1.0)), patcher.active());
            }
        } finally {
            patcher.clear();
        }
    }

    @Test
    void anSdxlLoraIsRefusedOnSd15ByName() {
        Path tiny = TinyModel.reference().resolve("tiny");
        try (Arena a = Arena.ofConfined()) {
            UNet2DConditionModel sdUnet = UNet2DConditionModel.load(tiny.resolve("unet"), CPU, a);
            CLIPTextModel sdText = CLIPTextModel.load(tiny.resolve("text_encoder"), CPU, a);
            LoraPatcher sd = LoraPatcher.of(CPU, sdUnet, sdText);
            for (String xl : List.of("sdxl_kohya", "sdxl_peft", "sdxl_kohya_hf")) {
                LoraException e = assertThrows(LoraException.class, () -> sd.set(List.of(new LoraSpec(lora(xl), 1.0))));
                assertTrue(e.getMessage().contains("does not fit this model") && e.getMessage().contains("SDXL on SD 1.5")
                        && !e.getMessage().contains("\n"), e.getMessage());
                assertEquals(0, sd.patchedWeights());
            }
            // a file of SDXL's second text encoder alone names the component SD 1.5 lacks
            LoraException e = assertThrows(LoraException.class, () -> sd.set(List.of(new LoraSpec(lora("sdxl_diffusers"), 1.0))));
            assertTrue(e.getMessage().contains("text_encoder_2, which this model does not have")
                    || e.getMessage().contains("no layer of this model's"), e.getMessage());
        }
    }

    @Test
    void aLoraOnTheSingleFileModelMatchesDiffusersOnItsFolders() { // reference/single-file/sdxl, LDM names mapped at load
        Path file = LoraTest.sets().resolveSibling("single-file/sdxl/tiny-sdxl.safetensors");
        try (Arena a = Arena.ofConfined()) {
            ModelFolder model = ModelFolder.open(file);
            Xl m = new Xl(UNet2DConditionModel.load(model, "unet", CPU, a), CLIPTextModel.load(model, "text_encoder", CPU, a),
                    CLIPTextModelWithProjection.load(model, "text_encoder_2", CPU, a));
            LoraPatcher p = LoraPatcher.ofSdxl(CPU, m.unet(), m.te(), m.te2());
            Map<String, Double> base = errors(m, "sdxl_file_kohya");
            assertTrue(base.values().stream().allMatch(r -> r > 1e-3), "the base model already matches: " + base);
            p.set(List.of(new LoraSpec(lora("sdxl_file_kohya"), 0.9)));
            errors(m, "sdxl_file_kohya").forEach((k, r) -> assertTrue(r < 1e-4, "single file: " + k + " relative error " + r));
            p.clear();
            assertEquals(base, errors(m, "sdxl_file_kohya"));
            // a LoRA for reference/sdxl's model (hidden 32) does not fit this one (hidden 64)
            LoraException e = assertThrows(LoraException.class, () -> p.set(List.of(new LoraSpec(lora("sdxl_kohya"), 1.0))));
            assertTrue(e.getMessage().contains("does not fit this model"), e.getMessage());
        }
    }

    @Test
    void aComponentNotLoadedHereIsSkippedNotRefused(@TempDir Path tmp) throws IOException {
        // verify's per-component patchers: the UNet's skips both text encoders' layers, text_encoder_2's the others
        try (Arena a = Arena.ofConfined()) {
            LoraPatcher unetOnly = LoraPatcher.ofSdxl(CPU, unet, null, null);
            unetOnly.set(List.of(new LoraSpec(lora("sdxl_kohya"), 0.8)));
            assertTrue(unet.params().values().stream().anyMatch(Param::isPatched));
            assertTrue(textEncoder2.params().values().stream().noneMatch(Param::isPatched));
            unetOnly.clear();
            LoraPatcher te2Only = LoraPatcher.ofSdxl(CPU, null, null, textEncoder2);
            te2Only.set(List.of(new LoraSpec(lora("sdxl_kohya"), 0.8)));
            assertTrue(textEncoder2.params().values().stream().anyMatch(Param::isPatched));
            assertTrue(unet.params().values().stream().noneMatch(Param::isPatched));
            te2Only.clear();
        }
        String k = "lora_te2_text_model_encoder_layers_7_self_attn_q_proj"; // the tiny encoder has 3 layers
        Path f = tmp.resolve("deep.safetensors");
        SafeTensors.write(f, Map.of(k + ".lora_down.weight", Tensor.zeros(4, 32), k + ".lora_up.weight", Tensor.zeros(32, 4)), Map.of());
        LoraException e = assertThrows(LoraException.class, () -> patcher.set(List.of(new LoraSpec(f, 1.0))));
        assertTrue(e.getMessage().contains("names no layer of this model's text_encoder_2") && e.getMessage().contains(k), e.getMessage());
    }
}
