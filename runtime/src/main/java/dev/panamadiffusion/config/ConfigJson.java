package dev.panamadiffusion.config;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Reads Hugging Face {@code config.json} files into immutable records. Record components are camelCase and map to the
 * snake_case keys (so {@code useLinearProjection} reads {@code use_linear_projection}); unknown keys are ignored.
 * Python's {@code NaN}, {@code Infinity} and {@code -Infinity} are accepted (diffusers writes them, e.g.
 * {@code "lambda_min_clipped": -Infinity}).
 */
public final class ConfigJson {
    public static final ObjectMapper MAPPER = new ObjectMapper(
            JsonFactory.builder().enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS).build())
            .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false)
            .configure(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES, false);

    private ConfigJson() {}

    /** The JSON tree of {@code file}; a missing or malformed file is an {@link IllegalArgumentException} naming it. */
    public static JsonNode tree(Path file) {
        if (!Files.isRegularFile(file)) throw new IllegalArgumentException(file + ": no such config file");
        try {
            return MAPPER.readTree(file.toFile());
        } catch (IOException e) {
            throw new IllegalArgumentException(file + ": not valid JSON: " + e.getMessage(), e);
        }
    }

    /** {@code file} bound to {@code type}; problems are an {@link IllegalArgumentException} naming the file. */
    public static <T> T read(Path file, Class<T> type) {
        JsonNode node = tree(file);
        try {
            return MAPPER.treeToValue(node, type);
        } catch (IOException e) {
            throw new IllegalArgumentException(file + ": cannot read as " + type.getSimpleName() + ": " + e.getMessage(), e);
        }
    }
}
