package dev.panamadiffusion.io;

import com.fasterxml.jackson.databind.JsonNode;
import dev.panamadiffusion.config.ConfigException;
import dev.panamadiffusion.config.ConfigJson;
import dev.panamadiffusion.config.ConfigReader;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A diffusers {@code model_index.json}: the pipeline class and, per component folder, the library and class that
 * {@code from_pretrained} would load it with ({@code "unet": ["diffusers", "UNet2DConditionModel"]}). Components set to
 * {@code [null, null]} (a removed safety checker) are left out; keys starting with {@code _} and plain values
 * ({@code "requires_safety_checker": true}) are not components.
 */
public record ModelIndex(String className, String diffusersVersion, Map<String, Component> components,
                         Map<String, Boolean> flags) {

    /** One component entry: {@code [library, className]}. */
    public record Component(String library, String className) {}

    public ModelIndex {
        components = Collections.unmodifiableMap(new LinkedHashMap<>(components));
        flags = Collections.unmodifiableMap(new LinkedHashMap<>(flags));
    }

    /** An index without pipeline flags. */
    public ModelIndex(String className, String diffusersVersion, Map<String, Component> components) {
        this(className, diffusersVersion, components, Map.of());
    }

    /**
     * A boolean pipeline option of the index ({@code "force_zeros_for_empty_prompt": true} of SDXL,
     * {@code "requires_safety_checker"}), or {@code dflt} when it has none.
     */
    public boolean flag(String key, boolean dflt) {
        return flags.getOrDefault(key, dflt);
    }

    /** Reads and validates {@code file}; problems are an {@link IllegalArgumentException} naming it. */
    public static ModelIndex read(Path file) {
        JsonNode root = ConfigJson.tree(file);
        if (!root.isObject()) throw new ConfigException(file, null, "not a JSON object but " + root.getNodeType());
        JsonNode cls = root.get("_class_name");
        if (cls == null || !cls.isTextual()) throw new ConfigException(file, "_class_name", "missing or not a string");
        JsonNode version = root.get("_diffusers_version");
        Map<String, Component> components = new LinkedHashMap<>();
        Map<String, Boolean> flags = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (!e.getKey().startsWith("_") && e.getValue().isBoolean()) flags.put(e.getKey(), e.getValue().asBoolean());
            if (e.getKey().startsWith("_") || !e.getValue().isArray()) continue;
            JsonNode v = e.getValue();
            if (v.size() != 2) {
                throw new ConfigException(file, e.getKey(), "not a [library, class] pair: " + ConfigReader.describe(v));
            }
            if (v.get(0).isNull() && v.get(1).isNull()) continue;
            if (!v.get(0).isTextual() || !v.get(1).isTextual()) {
                throw new ConfigException(file, e.getKey(), "not a [library, class] pair: " + ConfigReader.describe(v));
            }
            components.put(e.getKey(), new Component(v.get(0).asText(), v.get(1).asText()));
        }
        return new ModelIndex(cls.asText(), version != null && version.isTextual() ? version.asText() : null, components, flags);
    }

    /**
     * The index of a folder of component folders that has no {@code model_index.json}: every sub-folder whose own
     * config names its class ({@code _class_name} in {@code config.json} or {@code scheduler_config.json}: diffusers;
     * {@code architectures} in {@code config.json}: transformers) or that holds a BPE tokenizer ({@code vocab.json} and
     * {@code merges.txt}). The pipeline class name is null. A folder with no such sub-folder is an error naming it.
     */
    public static ModelIndex fromComponents(Path dir) {
        List<Path> subdirs;
        try (var list = Files.list(dir)) {
            subdirs = list.filter(Files::isDirectory).sorted().toList();
        } catch (IOException e) {
            throw new IllegalArgumentException(dir + ": cannot list: " + e.getMessage(), e);
        }
        Map<String, Component> components = new LinkedHashMap<>();
        String version = null;
        for (Path sub : subdirs) {
            String name = sub.getFileName().toString();
            Path config = Files.isRegularFile(sub.resolve("scheduler_config.json")) ? sub.resolve("scheduler_config.json")
                    : sub.resolve("config.json");
            if (Files.isRegularFile(config)) {
                JsonNode root = ConfigJson.tree(config);
                JsonNode cls = root.path("_class_name");
                JsonNode arch = root.path("architectures");
                if (cls.isTextual()) {
                    components.put(name, new Component("diffusers", cls.asText()));
                    if (version == null && root.path("_diffusers_version").isTextual()) version = root.get("_diffusers_version").asText();
                } else if (arch.isArray() && !arch.isEmpty() && arch.get(0).isTextual()) {
                    components.put(name, new Component("transformers", arch.get(0).asText()));
                }
            } else if (Files.isRegularFile(sub.resolve("vocab.json")) && Files.isRegularFile(sub.resolve("merges.txt"))) {
                Path tc = sub.resolve("tokenizer_config.json");
                JsonNode cls = Files.isRegularFile(tc) ? ConfigJson.tree(tc).path("tokenizer_class") : null;
                components.put(name, new Component("transformers", cls != null && cls.isTextual() ? cls.asText() : "CLIPTokenizer"));
            }
        }
        if (components.isEmpty()) {
            throw new IllegalArgumentException("model folder " + dir + " has neither " + ModelFolder.INDEX
                    + " nor component folders (sub-folders with a config.json, scheduler_config.json or vocab.json)");
        }
        return new ModelIndex(null, version, components);
    }

    /** The class model_index.json names for {@code component}, or null when it lists none. */
    public String componentClass(String component) {
        Component c = components.get(component);
        return c == null ? null : c.className();
    }
}
