package dev.panamadiffusion.io;

import com.fasterxml.jackson.databind.JsonNode;
import dev.panamadiffusion.config.ConfigJson;

import java.nio.file.Path;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A diffusers {@code model_index.json}: the pipeline class and, per component folder, the library and class that
 * {@code from_pretrained} would load it with ({@code "unet": ["diffusers", "UNet2DConditionModel"]}). Components set to
 * {@code [null, null]} (a removed safety checker) are left out; keys starting with {@code _} and plain values
 * ({@code "requires_safety_checker": true}) are not components.
 */
public record ModelIndex(String className, String diffusersVersion, Map<String, Component> components) {

    /** One component entry: {@code [library, className]}. */
    public record Component(String library, String className) {}

    public ModelIndex {
        components = Collections.unmodifiableMap(new LinkedHashMap<>(components));
    }

    /** Reads and validates {@code file}; problems are an {@link IllegalArgumentException} naming it. */
    public static ModelIndex read(Path file) {
        JsonNode root = ConfigJson.tree(file);
        if (!root.isObject()) throw new IllegalArgumentException(file + ": not a JSON object");
        JsonNode cls = root.get("_class_name");
        if (cls == null || !cls.isTextual()) throw new IllegalArgumentException(file + ": no \"_class_name\" string");
        JsonNode version = root.get("_diffusers_version");
        Map<String, Component> components = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (e.getKey().startsWith("_") || !e.getValue().isArray()) continue;
            JsonNode v = e.getValue();
            if (v.size() != 2) {
                throw new IllegalArgumentException(file + ": component \"" + e.getKey() + "\" is not a [library, class] pair: " + v);
            }
            if (v.get(0).isNull() && v.get(1).isNull()) continue;
            if (!v.get(0).isTextual() || !v.get(1).isTextual()) {
                throw new IllegalArgumentException(file + ": component \"" + e.getKey() + "\" is not a [library, class] pair: " + v);
            }
            components.put(e.getKey(), new Component(v.get(0).asText(), v.get(1).asText()));
        }
        return new ModelIndex(cls.asText(), version != null && version.isTextual() ? version.asText() : null, components);
    }

    /** The class model_index.json names for {@code component}, or null when it lists none. */
    public String componentClass(String component) {
        Component c = components.get(component);
        return c == null ? null : c.className();
    }
}
