package dev.panamadiffusion.config;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

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
            .configure(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES, false)
            .configure(DeserializationFeature.ACCEPT_FLOAT_AS_INT, false) // 1.5 for a count is an error, not 1
            .configure(DeserializationFeature.FAIL_ON_TRAILING_TOKENS, true); // "{} junk" is not a config

    /**
     * Config files larger than this are refused before they are read (CLIP's vocab.json, the largest a Stable
     * Diffusion folder has, is about 1 MB; a sharded index of a large model a few hundred kB).
     */
    public static final long MAX_BYTES = 64L << 20;

    private ConfigJson() {}

    /**
     * The JSON tree of {@code file}; a missing file is an {@link IllegalArgumentException}, an oversized or malformed
     * one (deep nesting included: Jackson's limit of 1,000 levels) a {@link ConfigException}, each naming it in one line.
     */
    public static JsonNode tree(Path file) {
        if (!Files.isRegularFile(file)) throw new IllegalArgumentException(file + ": no such config file");
        try {
            long size = Files.size(file);
            if (size > MAX_BYTES) {
                throw new ConfigException(file, null, size + " bytes is over the " + MAX_BYTES + "-byte limit for a JSON config file");
            }
            JsonNode root = MAPPER.readTree(file.toFile());
            if (root == null || root.isMissingNode()) throw new ConfigException(file, null, "is empty, not JSON");
            if (!root.isContainerNode()) throw new ConfigException(file, null, "is " + root.getNodeType() + ", not a JSON object");
            return root;
        } catch (IOException e) {
            ConfigException c = new ConfigException(file, null, "not valid JSON: " + oneLine(e));
            c.initCause(e);
            throw c;
        }
    }

    /** A Jackson problem in one line: the message without its source excerpt, and the position or key path. */
    public static String oneLine(IOException e) {
        if (!(e instanceof JsonProcessingException j)) return String.valueOf(e.getMessage()).strip().replace('\n', ' ');
        String msg = String.valueOf(j.getOriginalMessage()).strip().replace('\n', ' ');
        if (j instanceof JsonMappingException m && !m.getPath().isEmpty()) {
            StringBuilder path = new StringBuilder();
            for (JsonMappingException.Reference r : m.getPath()) {
                if (r.getFieldName() != null) path.append(path.isEmpty() ? "" : ".").append(r.getFieldName());
                else if (r.getIndex() >= 0) path.append('[').append(r.getIndex()).append(']');
            }
            return path + ": " + msg;
        }
        JsonLocation at = j.getLocation();
        return at == null ? msg : msg + " (line " + at.getLineNr() + ", column " + at.getColumnNr() + ")";
    }

    /**
     * A value of the wrong type for a top-level key (or an entry of its list) worded as {@link ConfigReader} words it,
     * {@code key: must be an integer, not 999.5}; null when the problem is not one of those.
     */
    private static ConfigException typeProblem(Path file, JsonNode root, com.fasterxml.jackson.databind.exc.MismatchedInputException e) {
        List<JsonMappingException.Reference> path = e.getPath();
        if (path.isEmpty() || path.get(0).getFieldName() == null || path.size() > 2) return null;
        String key = path.get(0).getFieldName();
        JsonNode value = root.get(key);
        String entry = "";
        if (path.size() == 2) {
            int i = path.get(1).getIndex();
            if (i < 0 || value == null || !value.isArray()) return null;
            value = value.get(i);
            entry = "entry " + i + " ";
        }
        Class<?> t = e.getTargetType();
        String expected = t == null ? null : switch (t.getName()) {
            case "int", "long", "java.lang.Integer", "java.lang.Long" -> "an integer";
            case "double", "float", "java.lang.Double", "java.lang.Float" -> "a number";
            case "boolean", "java.lang.Boolean" -> "true or false";
            case "java.lang.String" -> "a string";
            case "[D", "[F" -> "a list of numbers";
            case "[I", "[J" -> "a list of integers";
            default -> null;
        };
        if (expected == null || value == null) return null;
        return new ConfigException(file, key, entry + "must be " + expected + ", not " + value);
    }

    /** {@code file} bound to {@code type}; problems are a {@link ConfigException} naming the file and the key. */
    public static <T> T read(Path file, Class<T> type) {
        JsonNode node = tree(file);
        if (!node.isObject()) throw new ConfigException(file, null, "is " + node.getNodeType() + ", not a JSON object");
        try {
            return MAPPER.treeToValue(node, type);
        } catch (com.fasterxml.jackson.databind.exc.MismatchedInputException e) {
            ConfigException c = typeProblem(file, node, e);
            if (c == null) c = new ConfigException(file, null, "cannot read as " + type.getSimpleName() + ": " + oneLine(e));
            c.initCause(e);
            throw c;
        } catch (IOException e) {
            ConfigException c = new ConfigException(file, null, "cannot read as " + type.getSimpleName() + ": " + oneLine(e));
            c.initCause(e);
            throw c;
        }
    }
}
