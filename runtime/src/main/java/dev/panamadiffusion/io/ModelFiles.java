package dev.panamadiffusion.io;

import com.fasterxml.jackson.databind.JsonNode;
import dev.panamadiffusion.config.ConfigJson;
import dev.panamadiffusion.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Finds and maps the weights of one diffusers component folder (unet/, vae/, text_encoder/).
 *
 * <p>A single file is preferred, full precision before the {@code fp16} variant (the CPU backend computes in f32
 * either way; f16 weights are converted when uploaded). Otherwise a sharded checkpoint's index
 * ({@code *.safetensors.index.json}) names the shard files; every shard must exist and hold the tensors the index
 * assigns to it.
 */
public final class ModelFiles {
    /** Single-file names in order of preference: full precision first, then the fp16 variant. */
    private static final List<String> SINGLE = List.of(
            "diffusion_pytorch_model.safetensors", "model.safetensors",
            "diffusion_pytorch_model.fp16.safetensors", "model.fp16.safetensors");
    /** Shard indexes in the same order of preference. */
    private static final List<String> INDEXES = List.of(
            "diffusion_pytorch_model.safetensors.index.json", "model.safetensors.index.json",
            "diffusion_pytorch_model.safetensors.index.fp16.json", "model.safetensors.index.fp16.json");

    private ModelFiles() {}

    /** Where a component's weights are: the files, and for a sharded checkpoint its index (tensor name → shard). */
    private record Layout(List<Path> files, Path index, Map<String, String> weightMap) {}

    /** The safetensors files holding {@code componentDir}'s weights (one, or the shards an index names, sorted). */
    public static List<Path> weightFiles(Path componentDir) {
        return layout(componentDir).files();
    }

    private static Layout layout(Path componentDir) {
        if (!Files.isDirectory(componentDir)) throw new IllegalArgumentException(componentDir + ": no such component folder");
        for (String name : SINGLE) {
            Path p = componentDir.resolve(name);
            if (Files.isRegularFile(p)) return new Layout(List.of(p), null, null);
        }
        for (String name : INDEXES) {
            Path p = componentDir.resolve(name);
            if (Files.isRegularFile(p)) return sharded(componentDir, p);
        }
        List<String> present = new ArrayList<>();
        try (var files = Files.list(componentDir)) {
            files.forEach(f -> present.add(f.getFileName().toString()));
        } catch (IOException e) {
            throw new IllegalArgumentException(componentDir + ": cannot list: " + e.getMessage(), e);
        }
        present.sort(null);
        throw new IllegalArgumentException(componentDir + ": no safetensors weights (looked for " + SINGLE
                + " and sharded indexes " + INDEXES + "; found " + present + ")");
    }

    private static Layout sharded(Path componentDir, Path index) {
        JsonNode map = ConfigJson.tree(index).get("weight_map");
        if (map == null || !map.isObject()) throw new IllegalArgumentException(index + ": no \"weight_map\" object");
        if (map.isEmpty()) throw new IllegalArgumentException(index + ": \"weight_map\" is empty");
        Map<String, String> weightMap = new TreeMap<>();
        TreeSet<String> shards = new TreeSet<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = map.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String shard = e.getValue().isTextual() ? e.getValue().asText() : "";
            // a shard is a file next to the index: no folders, nothing outside the component
            if (shard.isEmpty() || shard.contains("/") || shard.contains("\\") || shard.equals("..") || shard.equals(".")) {
                throw new IllegalArgumentException(index + ": tensor '" + e.getKey() + "' maps to " + e.getValue()
                        + ", not a shard file name");
            }
            weightMap.put(e.getKey(), shard);
            shards.add(shard);
        }
        List<Path> out = new ArrayList<>();
        for (String s : shards) {
            Path p = componentDir.resolve(s);
            if (!Files.isRegularFile(p)) throw new IllegalArgumentException(index + " names shard " + s + ", which is missing");
            out.add(p);
        }
        return new Layout(List.copyOf(out), index, weightMap);
    }

    /** Maps every weight file of {@code componentDir} into {@code arena}; tensors by name (duplicates are an error). */
    public static Map<String, Tensor> loadWeights(Path componentDir, Arena arena) {
        Layout layout = layout(componentDir);
        Map<String, Tensor> all = new LinkedHashMap<>();
        for (Path f : layout.files()) {
            SafeTensors st = SafeTensors.open(f, arena);
            for (Map.Entry<String, Tensor> e : st.tensors().entrySet()) {
                if (all.putIfAbsent(e.getKey(), e.getValue()) != null) {
                    throw new SafeTensorsException(f, e.getKey(), "tensor appears in more than one shard");
                }
                if (layout.index() != null) {
                    String listed = layout.weightMap().get(e.getKey());
                    if (!f.getFileName().toString().equals(listed)) {
                        throw new SafeTensorsException(f, e.getKey(), listed == null ? "tensor is not in " + layout.index()
                                : layout.index() + " puts it in " + listed);
                    }
                }
            }
        }
        if (layout.index() != null) {
            for (Map.Entry<String, String> e : layout.weightMap().entrySet()) {
                if (!all.containsKey(e.getKey())) {
                    throw new SafeTensorsException(componentDir.resolve(e.getValue()), e.getKey(),
                            "tensor is missing, though " + layout.index().getFileName() + " puts it in this shard");
                }
            }
        }
        return all;
    }
}
