package dev.panamadiffusion.lora;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.backend.cpu.CpuBackend;
import dev.panamadiffusion.io.SafeTensors;
import dev.panamadiffusion.models.clip.CLIPTextModel;
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
 * LoRAs merged into the tiny models against what diffusers 0.27.2 computed with the same LoRAs fused
 * (reference/lora, tools/refgen/gen_lora.py), removal bit for bit, and refusals of LoRAs for other models.
 */
class LoraTest {
    private static final Backend CPU = new CpuBackend();
    private static Arena arena;
    private static UNet2DConditionModel unet;
    private static CLIPTextModel textEncoder;
    private static LoraPatcher patcher;

    static Path sets() {
        Path p = Path.of(System.getProperty("pd.home", "..")).resolve("reference/lora");
        assertTrue(Files.isDirectory(p.resolve("loras")), "reference/lora missing at " + p.toAbsolutePath());
        return p;
    }

    static Path lora(String name) { return sets().resolve("loras/" + name + ".safetensors"); }

    @BeforeAll
    static void load() {
        arena = Arena.ofShared();
        Path tiny = TinyModel.reference().resolve("tiny");
        unet = UNet2DConditionModel.load(tiny.resolve("unet"), CPU, arena);
        textEncoder = CLIPTextModel.load(tiny.resolve("text_encoder"), CPU, arena);
        patcher = LoraPatcher.of(CPU, unet, textEncoder);
    }

    @AfterAll
    static void close() {
        patcher.clear();
        arena.close();
    }

    private static float[] unetOut(Map<String, Tensor> io) {
        Tensor ts = io.get("timesteps");
        double[] t = new double[Math.toIntExact(ts.numel())];
        for (int i = 0; i < t.length; i++) t[i] = ts.getDouble(i);
        return CPU.download(unet.forward(CPU.upload(io.get("sample")), t, CPU.upload(io.get("encoder_hidden_states")))).toFloatArray();
    }

    private static float[] textOut(Map<String, Tensor> io) {
        return CPU.download(textEncoder.forward(io.get("input_ids")).lastHiddenState()).toFloatArray();
    }

    /** max |a - b| / max |b|. */
    private static double relative(float[] a, float[] b) {
        double diff = 0, scale = 0;
        for (int i = 0; i < b.length; i++) {
            diff = Math.max(diff, Math.abs(a[i] - b[i]));
            scale = Math.max(scale, Math.abs(b[i]));
        }
        return diff / scale;
    }

    private static void assertMatchesDiffusers(String set, List<LoraSpec> specs) {
        patcher.set(specs);
        try {
            Map<String, Tensor> u = SafeTensors.readAll(sets().resolve(set + "/unet_io.safetensors"));
            Map<String, Tensor> t = SafeTensors.readAll(sets().resolve(set + "/text_encoder_io.safetensors"));
            float[] want = u.get("out").toFloatArray();
            double r = relative(unetOut(u), want);
            assertTrue(r < 1e-4, set + ": UNet relative error " + r);
            double rt = relative(textOut(t), t.get("last_hidden_state").toFloatArray());
            assertTrue(rt < 1e-4, set + ": text encoder relative error " + rt);
        } finally {
            patcher.clear();
        }
    }

    @Test
    void kohyaWithAlphaMatchesDiffusers() { assertMatchesDiffusers("kohya", List.of(new LoraSpec(lora("kohya"), 0.8))); }

    @Test
    void kohyaWithLdmNamesMatchesDiffusers() { assertMatchesDiffusers("kohya_ldm", List.of(new LoraSpec(lora("kohya_ldm"), 0.8))); }

    @Test
    void peftLayoutMatchesDiffusers() { assertMatchesDiffusers("peft", List.of(new LoraSpec(lora("peft"), 1.0))); }

    @Test
    void oldDiffusersAttentionProcessorLayoutMatchesDiffusers() {
        assertMatchesDiffusers("diffusers_old", List.of(new LoraSpec(lora("diffusers_old"), 0.5)));
    }

    @Test
    void twoLorasAtOnceMatchDiffusers() {
        assertMatchesDiffusers("two", List.of(new LoraSpec(lora("kohya"), 0.8), new LoraSpec(lora("peft"), 0.6)));
    }

    @Test
    void theWrongScaleDoesNotMatch() { // the comparison above can fail: the same LoRA at another scale is far off
        patcher.set(List.of(new LoraSpec(lora("kohya"), 0.5)));
        try {
            Map<String, Tensor> u = SafeTensors.readAll(sets().resolve("kohya/unet_io.safetensors"));
            assertTrue(relative(unetOut(u), u.get("out").toFloatArray()) > 1e-2);
        } finally {
            patcher.clear();
        }
    }

    @Test
    void removingRestoresTheBaseWeightsBitForBit() {
        Map<String, Tensor> u = SafeTensors.readAll(sets().resolve("kohya/unet_io.safetensors"));
        Map<String, Tensor> t = SafeTensors.readAll(sets().resolve("kohya/text_encoder_io.safetensors"));
        float[] baseU = unetOut(u), baseT = textOut(t);
        Map<String, Tensor> before = new LinkedHashMap<>();
        for (Param p : unet.params().values()) before.put(p.key(), p.tensor());
        patcher.set(List.of(new LoraSpec(lora("kohya"), 0.8), new LoraSpec(lora("peft"), 0.6)));
        assertTrue(patcher.patchedWeights() > 0);
        assertFalse(java.util.Arrays.equals(baseU, unetOut(u)));
        patcher.set(List.of(new LoraSpec(lora("peft"), 1.0))); // replacing merges from the base again
        patcher.clear();
        assertEquals(0, patcher.patchedWeights());
        for (Param p : unet.params().values()) {
            assertSame(before.get(p.key()), p.tensor(), p.key());
            assertArrayEquals(p.host().toFloatArray(), CPU.download(p.tensor()).toFloatArray(), p.key());
        }
        assertArrayEquals(baseU, unetOut(u));
        assertArrayEquals(baseT, textOut(t));
    }

    private static Path write(Path dir, String name, Map<String, Tensor> tensors) throws IOException {
        Path f = dir.resolve(name + ".safetensors");
        SafeTensors.write(f, tensors, Map.of());
        return f;
    }

    @Test
    void anSdxlShapedLoraIsRefusedAndTheActiveLorasStay(@TempDir Path tmp) throws IOException {
        // SDXL's first attention block is 640 wide; this tiny model's (as SD 1.5's 320) is 32
        String k = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q";
        Path sdxl = write(tmp, "sdxl", Map.of(k + ".lora_down.weight", Tensor.zeros(4, 640), k + ".lora_up.weight",
                Tensor.zeros(640, 4), k + ".alpha", Tensor.fromFloats(new float[] {4f})));
        patcher.set(List.of(new LoraSpec(lora("peft"), 1.0)));
        int patched = patcher.patchedWeights();
        try {
            LoraException e = assertThrows(LoraException.class, () -> patcher.set(List.of(new LoraSpec(sdxl, 1.0))));
            assertTrue(e.getMessage().contains("does not fit this model") && e.getMessage().contains(k)
                    && e.getMessage().contains("[640, 4]") && !e.getMessage().contains("\n"), e.getMessage());
            assertEquals(patched, patcher.patchedWeights());
            assertEquals(List.of(new LoraSpec(lora("peft"), 1.0)), patcher.active());
        } finally {
            patcher.clear();
        }
    }

    @Test
    void keysThatNameNoLayerAreRefused(@TempDir Path tmp) throws IOException {
        String te2 = "lora_te2_text_model_encoder_layers_0_self_attn_q_proj";
        Path f = write(tmp, "xl", Map.of(te2 + ".lora_down.weight", Tensor.zeros(4, 32), te2 + ".lora_up.weight", Tensor.zeros(32, 4)));
        LoraException e = assertThrows(LoraException.class, () -> patcher.set(List.of(new LoraSpec(f, 1.0))));
        assertTrue(e.getMessage().contains("SDXL") && e.getMessage().contains(te2), e.getMessage());
        String deep = "unet.down_blocks.3.attentions.0.transformer_blocks.0.attn1.to_q";
        Path g = write(tmp, "deep", Map.of(deep + ".lora_A.weight", Tensor.zeros(4, 32), deep + ".lora_B.weight", Tensor.zeros(32, 4)));
        e = assertThrows(LoraException.class, () -> patcher.set(List.of(new LoraSpec(g, 1.0))));
        assertTrue(e.getMessage().contains("names no layer of this model's unet"), e.getMessage());
        assertEquals(0, patcher.patchedWeights());
    }

    @Test
    void lycorisAndHalfPairsAreRefusedByName(@TempDir Path tmp) throws IOException {
        String k = "lora_unet_down_blocks_0_attentions_0_proj_in";
        Path loha = write(tmp, "loha", Map.of(k + ".hada_w1_a", Tensor.zeros(32, 4)));
        assertTrue(assertThrows(LoraException.class, () -> patcher.set(List.of(new LoraSpec(loha, 1.0)))).getMessage().contains("LoHa"));
        Path half = write(tmp, "half", Map.of(k + ".lora_down.weight", Tensor.zeros(4, 32, 1, 1)));
        assertTrue(assertThrows(LoraException.class, () -> patcher.set(List.of(new LoraSpec(half, 1.0)))).getMessage()
                .contains("no matching up"));
    }

    @Test
    void specsParseFileAndScale() {
        assertEquals(new LoraSpec(Path.of("a/b.safetensors"), 0.7), LoraSpec.parse("a/b.safetensors:0.7"));
        assertEquals(new LoraSpec(Path.of("b.safetensors"), 1.0), LoraSpec.parse("b.safetensors"));
        assertEquals(new LoraSpec(Path.of("C:\\x.safetensors"), 1.0), LoraSpec.parse("C:\\x.safetensors"));
        assertEquals(-0.5, LoraSpec.parse("x:-0.5").scale());
        assertThrows(IllegalArgumentException.class, () -> LoraSpec.parse("x:1.2.3"));
        assertThrows(IllegalArgumentException.class, () -> LoraSpec.parse("x:NaN"));
        assertEquals("kohya", LoraSpec.nameOf(Path.of("d/kohya.safetensors")));
    }
}
