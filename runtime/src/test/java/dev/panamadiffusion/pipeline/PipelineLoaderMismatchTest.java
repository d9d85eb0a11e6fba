package dev.panamadiffusion.pipeline;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.panamadiffusion.io.ModelFolder;
import dev.panamadiffusion.models.TinyFolderFixture;
import dev.panamadiffusion.io.SafeTensors;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.verify.ReferenceModelFolder;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.BiFunction;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Components that load one by one but do not fit together (each UNet below has weights that match its own config):
 * PipelineLoader refuses them with one line naming both sides, before anything runs.
 */
class PipelineLoaderMismatchTest extends TinyFolderFixture {
    /** Rewrites the UNet of {@code m}: {@code key} set to {@code value} in its config, each weight through {@code edit}. */
    private static void editUNet(Path m, String key, int value, BiFunction<String, Tensor, Tensor> edit) throws IOException {
        Path config = m.resolve("unet/config.json");
        ObjectNode root = (ObjectNode) JSON.readTree(config.toFile());
        root.put(key, value);
        JSON.writeValue(config.toFile(), root);
        Path weights = m.resolve("unet/diffusion_pytorch_model.safetensors");
        Map<String, Tensor> out = new LinkedHashMap<>();
        SafeTensors.readAll(weights).forEach((name, t) -> out.put(name, edit.apply(name, t)));
        Files.delete(weights);
        SafeTensors.write(weights, out, Map.of());
    }

    /** {@code t} with its dimension 1 widened (or narrowed) to {@code n}: zeros where new. */
    private static Tensor withDim1(Tensor t, int n) {
        long[] shape = t.shape();
        long rows = shape[0], inner = 1;
        for (int i = 2; i < shape.length; i++) inner *= shape[i];
        float[] v = t.toFloatArray();
        float[] out = new float[Math.toIntExact(rows * n * inner)];
        long keep = Math.min(n, shape[1]);
        for (int r = 0; r < rows; r++) {
            System.arraycopy(v, Math.toIntExact(r * shape[1] * inner), out, Math.toIntExact(r * n * inner), Math.toIntExact(keep * inner));
        }
        shape[1] = n;
        return Tensor.fromFloats(out, shape);
    }

    @Test
    void aUNetOfOtherInputChannelsIsRefused() throws IOException {
        Path m = tiny();
        editUNet(m, "in_channels", 5, (name, t) -> name.equals("conv_in.weight") ? withDim1(t, 5) : t);
        java.util.List<String> before = mapped(m);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> StableDiffusionPipeline.load(m, backend).close());
        assertEquals("model folder " + m + ": the UNet maps 5 to 4 channels but the VAE's latents have 4; this runtime runs UNets"
                + " of 4 (or, inpainting, 9) in and 4 out", e.getMessage());
        assertNothingNewMapped(m, before);
    }

    /** The lines of Linux's /proc/self/maps that map a file under {@code m} (this process's mappings of the model). */
    private static java.util.List<String> mapped(Path m) throws IOException {
        Path maps = Path.of("/proc/self/maps");
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isReadable(maps), "no /proc/self/maps here");
        String prefix = m.toRealPath().toString() + "/";
        return Files.readAllLines(maps).stream().filter(l -> l.contains(prefix)).toList();
    }

    /**
     * A refused load leaves no file of {@code m} mapped that was not mapped before it ({@code before}): it closed the
     * arena its components' weights were mapped in, rather than leaving them mapped until the process ends.
     */
    private static void assertNothingNewMapped(Path m, java.util.List<String> before) throws IOException {
        java.util.List<String> now = new java.util.ArrayList<>(mapped(m));
        now.removeAll(before);
        assertEquals(java.util.List.of(), now, "still mapped after the refused load");
    }

    @Test
    void aTextEncoderNarrowerThanTheUNetsCrossAttentionIsRefused() throws IOException {
        Path m = tiny();
        editUNet(m, "cross_attention_dim", 48,
                (name, t) -> name.endsWith("attn2.to_k.weight") || name.endsWith("attn2.to_v.weight") ? withDim1(t, 48) : t);
        java.util.List<String> before = mapped(m);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> StableDiffusionPipeline.load(m, backend).close());
        assertEquals("model folder " + m + ": the text encoder's hidden size 32 does not match the UNet's cross_attention_dim 48",
                e.getMessage());
        assertNothingNewMapped(m, before);
    }

    @Test
    void anSdxlUNetWithoutTheSecondTextEncoderIsRefused() throws IOException {
        Path m = tiny();
        ReferenceModelFolder.deleteTree(m.resolve("unet"));
        ReferenceModelFolder.copyDir(SdxlPipelineTest.referenceModel("sdxl").resolve("unet"), m.resolve("unet"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> StableDiffusionPipeline.load(m, backend).close());
        assertEquals("model folder " + m + ": the UNet has SDXL's text_time conditioning but the folder has no text_encoder_2",
                e.getMessage());
    }

    @Test
    void sdxlClipSkipIsBoundByTheShallowerTextEncoder() throws IOException {
        // SDXL base 1.0: CLIP ViT-L (12 layers) beside OpenCLIP bigG (32); here 2 beside the tiny set's 3 (configs only)
        Path m = tmp.resolve("sdxl");
        ReferenceModelFolder.copyDir(SdxlPipelineTest.referenceModel("sdxl"), m);
        Path config = m.resolve("text_encoder/config.json");
        ObjectNode root = (ObjectNode) JSON.readTree(config.toFile());
        root.put("num_hidden_layers", 2);
        JSON.writeValue(config.toFile(), root);
        RequestLimits.Model limits = PipelineLoader.modelLimits(ModelFolder.open(m));
        assertEquals(1, limits.textLayers(), "hidden_states[-(k + 2)] of a 2-layer encoder: k up to 1");
        assertTrue(limits.sdxl());
    }
}
