package dev.panamadiffusion.io;

import dev.panamadiffusion.tensor.DType;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.*;

class ModelFilesTest {
    @TempDir
    Path tmp;

    private static void write(Path file, Map<String, Tensor> tensors) throws IOException {
        SafeTensors.write(file, tensors, Map.of("format", "pt"));
    }

    private static Map<String, Tensor> tensors(String... namesAndValues) {
        Map<String, Tensor> m = new LinkedHashMap<>();
        for (int i = 0; i < namesAndValues.length; i += 2) {
            m.put(namesAndValues[i], Tensor.fromFloats(new float[] {Float.parseFloat(namesAndValues[i + 1]), 0f}, 2));
        }
        return m;
    }

    private Path component(String name) throws IOException {
        return Files.createDirectories(tmp.resolve(name));
    }

    @Test
    void singleFile() throws IOException {
        Path unet = component("unet");
        write(unet.resolve("diffusion_pytorch_model.safetensors"), tensors("conv_in.weight", "1", "conv_in.bias", "2"));
        Files.writeString(unet.resolve("config.json"), "{}");
        assertEquals(List.of(unet.resolve("diffusion_pytorch_model.safetensors")), ModelFiles.weightFiles(unet));
        Map<String, Tensor> w = ModelFiles.loadWeights(unet, Arena.ofAuto());
        assertEquals(List.of("conv_in.weight", "conv_in.bias"), List.copyOf(w.keySet()));
        assertEquals(2f, w.get("conv_in.bias").getFloat(0));

        Path te = component("text_encoder");
        write(te.resolve("model.safetensors"), tensors("text_model.embeddings.position_ids", "0"));
        assertEquals(List.of(te.resolve("model.safetensors")), ModelFiles.weightFiles(te));
    }

    @Test
    void fullPrecisionIsPreferredToTheFp16VariantWhichIsUsedAlone() throws IOException {
        Path vae = component("vae");
        Map<String, Tensor> half = new LinkedHashMap<>();
        half.put("w", Tensor.fromFloats(new float[] {1.5f, -2f}, 2).to(DType.F16));
        write(vae.resolve("diffusion_pytorch_model.fp16.safetensors"), half);
        assertEquals(List.of(vae.resolve("diffusion_pytorch_model.fp16.safetensors")), ModelFiles.weightFiles(vae));
        Tensor w = ModelFiles.loadWeights(vae, Arena.ofAuto()).get("w");
        assertEquals(DType.F16, w.dtype());
        assertArrayEquals(new float[] {1.5f, -2f}, w.toFloatArray());

        write(vae.resolve("diffusion_pytorch_model.safetensors"), tensors("w", "3"));
        assertEquals(List.of(vae.resolve("diffusion_pytorch_model.safetensors")), ModelFiles.weightFiles(vae));
        assertEquals(DType.F32, ModelFiles.loadWeights(vae, Arena.ofAuto()).get("w").dtype());

        Path te = component("text_encoder");
        write(te.resolve("model.fp16.safetensors"), half);
        assertEquals(List.of(te.resolve("model.fp16.safetensors")), ModelFiles.weightFiles(te));
    }

    @Test
    void shardedCheckpoint() throws IOException {
        Path unet = component("unet");
        String s1 = "diffusion_pytorch_model-00001-of-00002.safetensors";
        String s2 = "diffusion_pytorch_model-00002-of-00002.safetensors";
        write(unet.resolve(s2), tensors("b", "2", "c", "3"));
        write(unet.resolve(s1), tensors("a", "1"));
        Files.writeString(unet.resolve("diffusion_pytorch_model.safetensors.index.json"), """
                {"metadata": {"total_size": 24},
                 "weight_map": {"c": "%2$s", "a": "%1$s", "b": "%2$s"}}
                """.formatted(s1, s2));
        assertEquals(List.of(unet.resolve(s1), unet.resolve(s2)), ModelFiles.weightFiles(unet));
        Map<String, Tensor> w = ModelFiles.loadWeights(unet, Arena.ofAuto());
        assertEquals(new TreeSet<>(List.of("a", "b", "c")), new TreeSet<>(w.keySet()));
        assertEquals(3f, w.get("c").getFloat(0));
    }

    @Test
    void fp16ShardIndex() throws IOException {
        Path unet = component("unet");
        String s = "diffusion_pytorch_model.fp16-00001-of-00001.safetensors";
        write(unet.resolve(s), tensors("a", "1"));
        Files.writeString(unet.resolve("diffusion_pytorch_model.safetensors.index.fp16.json"),
                "{\"weight_map\": {\"a\": \"" + s + "\"}}");
        assertEquals(List.of(unet.resolve(s)), ModelFiles.weightFiles(unet));
    }

    @Test
    void brokenShardIndexes() throws IOException {
        Path unet = component("unet");
        Path index = unet.resolve("diffusion_pytorch_model.safetensors.index.json");
        write(unet.resolve("s1.safetensors"), tensors("a", "1", "b", "2"));
        write(unet.resolve("s2.safetensors"), tensors("b", "2"));

        Files.writeString(index, "{\"metadata\": {}}");
        assertMessage(() -> ModelFiles.weightFiles(unet), index.toString(), "weight_map");

        Files.writeString(index, "{\"weight_map\": {\"a\": \"s1.safetensors\", \"x\": \"s9.safetensors\"}}");
        assertMessage(() -> ModelFiles.weightFiles(unet), index.toString(), "s9.safetensors", "missing");

        Files.writeString(index, "{\"weight_map\": {\"a\": \"../../etc/passwd\"}}");
        assertMessage(() -> ModelFiles.weightFiles(unet), "'a'", "not a shard file name");

        // b is in both shards
        Files.writeString(index, "{\"weight_map\": {\"a\": \"s1.safetensors\", \"b\": \"s2.safetensors\"}}");
        SafeTensorsException e = assertThrows(SafeTensorsException.class, () -> ModelFiles.loadWeights(unet, Arena.ofAuto()));
        assertEquals("b", e.tensor());
        // ... and where the index puts it in the first shard, the second shard's copy is the duplicate
        write(unet.resolve("s2.safetensors"), tensors("b", "2", "c", "3"));
        Files.writeString(index, "{\"weight_map\": {\"a\": \"s1.safetensors\", \"b\": \"s1.safetensors\", \"c\": \"s2.safetensors\"}}");
        e = assertThrows(SafeTensorsException.class, () -> ModelFiles.loadWeights(unet, Arena.ofAuto()));
        assertEquals("b", e.tensor());
        assertEquals(unet.resolve("s2.safetensors"), e.file());
        assertTrue(e.getMessage().endsWith("tensor appears in more than one shard"), e.getMessage());

        // the index lists a tensor its shard does not have
        write(unet.resolve("s2.safetensors"), tensors("c", "2"));
        Files.writeString(index, "{\"weight_map\": {\"a\": \"s1.safetensors\", \"b\": \"s1.safetensors\", "
                + "\"c\": \"s2.safetensors\", \"d\": \"s2.safetensors\"}}");
        e = assertThrows(SafeTensorsException.class, () -> ModelFiles.loadWeights(unet, Arena.ofAuto()));
        assertEquals("d", e.tensor());
        assertEquals(unet.resolve("s2.safetensors"), e.file());
    }

    @Test
    void shardNamesAndWeightMapsAreChecked() throws IOException {
        Path unet = component("unet");
        Path index = unet.resolve("diffusion_pytorch_model.safetensors.index.json");
        write(unet.resolve("s1.safetensors"), tensors("a", "1", "b", "2"));
        write(unet.resolve("s2.safetensors"), tensors("c", "3"));
        Files.writeString(index, "{\"weight_map\": [\"s1.safetensors\"]}");
        assertMessage(() -> ModelFiles.weightFiles(unet), index.toString(), "no \"weight_map\" object");
        Files.writeString(index, "{\"weight_map\": {}}");
        assertMessage(() -> ModelFiles.weightFiles(unet), index.toString(), "\"weight_map\" is empty");
        // a shard is a file name beside the index: not empty, no folder, not . or .., a string
        for (String bad : List.of("\"\"", "\"sub/s1.safetensors\"", "\"sub\\\\s1.safetensors\"", "\"..\"", "\".\"", "3")) {
            Files.writeString(index, "{\"weight_map\": {\"a\": " + bad + "}}");
            assertMessage(() -> ModelFiles.weightFiles(unet), "'a'", "not a shard file name");
        }
        // a tensor the index does not list, and one it puts in the other shard
        Files.writeString(index, "{\"weight_map\": {\"a\": \"s1.safetensors\", \"c\": \"s2.safetensors\"}}");
        SafeTensorsException e = assertThrows(SafeTensorsException.class, () -> ModelFiles.loadWeights(unet, Arena.ofAuto()));
        assertEquals("b", e.tensor());
        assertTrue(e.getMessage().contains("not in " + index), e.getMessage());
        Files.writeString(index, "{\"weight_map\": {\"a\": \"s1.safetensors\", \"b\": \"s2.safetensors\", \"c\": \"s2.safetensors\"}}");
        e = assertThrows(SafeTensorsException.class, () -> ModelFiles.loadWeights(unet, Arena.ofAuto()));
        assertEquals("b", e.tensor());
        assertTrue(e.getMessage().contains("puts it in s2.safetensors"), e.getMessage());
        Files.writeString(index, "{\"weight_map\": {\"a\": \"s1.safetensors\", \"b\": \"s1.safetensors\", \"c\": \"s2.safetensors\"}}");
        Map<String, Tensor> all = ModelFiles.loadWeights(unet, Arena.ofAuto());
        assertEquals(List.of("a", "b", "c"), List.copyOf(all.keySet()));
        assertEquals(3f, all.get("c").getFloat(0));
    }

    @Test
    void noWeightsListsWhatIsThere() throws IOException {
        Path unet = component("unet");
        Files.writeString(unet.resolve("config.json"), "{}");
        Files.writeString(unet.resolve("diffusion_pytorch_model.bin"), "pickle");
        assertMessage(() -> ModelFiles.weightFiles(unet), unet.toString(), "no safetensors weights",
                "[config.json, diffusion_pytorch_model.bin]"); // sorted, whatever order the folder lists them in
        assertMessage(() -> ModelFiles.weightFiles(tmp.resolve("nope")), "nope", "no such component folder");
    }

    @Test
    void tinyReferenceComponents() {
        Path tiny = Path.of(System.getProperty("pd.reference"), "tiny");
        for (String c : List.of("unet", "vae", "text_encoder")) {
            Map<String, Tensor> folder = ModelFiles.loadWeights(tiny.resolve(c), Arena.ofAuto());
            Map<String, Tensor> flat = SafeTensors.open(tiny.resolve(c + "_weights.safetensors"), Arena.ofAuto()).tensors();
            assertEquals(new TreeSet<>(flat.keySet()), new TreeSet<>(folder.keySet()), c);
            for (String k : flat.keySet()) assertArrayEquals(flat.get(k).shape(), folder.get(k).shape(), c + " " + k);
        }
    }

    private static void assertMessage(org.junit.jupiter.api.function.Executable call, String... fragments) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        for (String f : fragments) assertTrue(e.getMessage().contains(f), "'" + f + "' not in: " + e.getMessage());
    }
}
