package dev.panamadiffusion.io;

import com.fasterxml.jackson.databind.JsonNode;
import dev.panamadiffusion.config.ConfigJson;
import dev.panamadiffusion.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/** Finds and maps the weights of one diffusers component folder (unet/, vae/, text_encoder/). */
public final class ModelFiles {
    /** Single-file names in order of preference: full precision first, then the fp16 variant. */
    private static final List<String> SINGLE = List.of(
            "diffusion_pytorch_model.safetensors", "model.safetensors",
            "diffusion_pytorch_model.fp16.safetensors", "model.fp16.safetensors");

    private ModelFiles() {}

    /** The safetensors files holding {@code componentDir}'s weights (one, or the shards an index names). */
    public static List<Path> weightFiles(Path componentDir) {
        if (!Files.isDirectory(componentDir)) throw new IllegalArgumentException(componentDir + ": no such component folder");
        for (String name : SINGLE) {
            Path p = componentDir.resolve(name);
            if (Files.isRegularFile(p)) return List.of(p);
        }
        for (String index : List.of("diffusion_pytorch_model.safetensors.index.json", "model.safetensors.index.json",
                "diffusion_pytorch_model.safetensors.index.fp16.json", "model.safetensors.index.fp16.json")) {
            Path p = componentDir.resolve(index);
            if (!Files.isRegularFile(p)) continue;
            JsonNode map = ConfigJson.tree(p).get("weight_map");
            if (map == null || !map.isObject()) throw new IllegalArgumentException(p + ": no weight_map object");
            TreeSet<String> shards = new TreeSet<>();
            map.fields().forEachRemaining(e -> shards.add(e.getValue().asText()));
            List<Path> out = new ArrayList<>();
            for (String s : shards) out.add(componentDir.resolve(s));
            return out;
        }
        List<String> present = new ArrayList<>();
        try (var files = Files.list(componentDir)) {
            files.forEach(f -> present.add(f.getFileName().toString()));
        } catch (IOException e) {
            throw new IllegalArgumentException(componentDir + ": cannot list: " + e.getMessage(), e);
        }
        throw new IllegalArgumentException(componentDir + ": no safetensors weights (looked for " + SINGLE
                + " and sharded indexes; found " + present + ")");
    }

    /** Maps every weight file of {@code componentDir} into {@code arena}; tensors by name (duplicates are an error). */
    public static Map<String, Tensor> loadWeights(Path componentDir, Arena arena) {
        Map<String, Tensor> all = new LinkedHashMap<>();
        for (Path f : weightFiles(componentDir)) {
            SafeTensors st = SafeTensors.open(f, arena);
            for (Map.Entry<String, Tensor> e : st.tensors().entrySet()) {
                if (all.putIfAbsent(e.getKey(), e.getValue()) != null) {
                    throw new SafeTensorsException(f, e.getKey(), "tensor appears in more than one shard");
                }
            }
        }
        return all;
    }
}
