package dev.panamadiffusion.io;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The few scalars this runtime reads from an LDM config ({@code v2-inference-v.yaml} and the like, kept beside a
 * checkpoint under the same name): the nested mappings of plain {@code key: value} lines, flattened to dotted paths
 * ({@code model.params.parameterization} → {@code v}). Lists, flow collections and multi-line scalars are skipped, not
 * interpreted; comments and quotes around a value are removed. That covers the configs the CompVis and Stability
 * repositories ship, which is all it is for.
 */
public final class LdmYaml {
    /** Largest config read (the real ones are about 2 KB). */
    static final long MAX_BYTES = 1 << 20;

    private final Path file;
    private final Map<String, String> values;

    private LdmYaml(Path file, Map<String, String> values) {
        this.file = file;
        this.values = values;
    }

    /** The config beside {@code checkpoint} ({@code name.yaml} for {@code name.safetensors}), or null when there is none. */
    public static LdmYaml besides(Path checkpoint) {
        String name = checkpoint.getFileName().toString();
        int dot = name.lastIndexOf('.');
        String stem = dot > 0 ? name.substring(0, dot) : name;
        for (String ext : List.of(".yaml", ".yml")) {
            Path p = checkpoint.resolveSibling(stem + ext);
            if (Files.isRegularFile(p)) return read(p);
        }
        return null;
    }

    public static LdmYaml read(Path file) {
        try {
            if (Files.size(file) > MAX_BYTES) throw new CheckpointException(file, "is over " + MAX_BYTES + " bytes: not an LDM config");
            return parse(file, Files.readAllLines(file));
        } catch (IOException e) {
            throw new CheckpointException(file, "cannot read: " + e.getMessage(), e);
        }
    }

    static LdmYaml parse(Path file, List<String> lines) {
        Map<String, String> values = new LinkedHashMap<>();
        List<Integer> indents = new ArrayList<>();
        List<String> keys = new ArrayList<>();
        for (String raw : lines) {
            String line = stripComment(raw);
            if (line.isBlank() || line.strip().startsWith("-") || line.strip().equals("---")) continue;
            int indent = line.length() - line.stripLeading().length();
            int colon = line.indexOf(':');
            if (colon < 0) continue;
            String key = line.substring(indent, colon).strip();
            String value = line.substring(colon + 1).strip();
            while (!indents.isEmpty() && indents.getLast() >= indent) {
                indents.removeLast();
                keys.removeLast();
            }
            if (value.isEmpty()) {
                indents.add(indent);
                keys.add(key);
            } else {
                String path = keys.isEmpty() ? key : String.join(".", keys) + "." + key;
                values.put(path, unquote(value));
            }
        }
        return new LdmYaml(file, values);
    }

    private static String stripComment(String line) {
        boolean single = false, dbl = false;
        for (int i = 0; i < line.length(); i++) {
            char c = line.charAt(i);
            if (c == '\'' && !dbl) single = !single;
            else if (c == '"' && !single) dbl = !dbl;
            else if (c == '#' && !single && !dbl && (i == 0 || Character.isWhitespace(line.charAt(i - 1)))) return line.substring(0, i);
        }
        return line;
    }

    private static String unquote(String v) {
        if (v.length() >= 2 && (v.startsWith("\"") && v.endsWith("\"") || v.startsWith("'") && v.endsWith("'"))) {
            return v.substring(1, v.length() - 1);
        }
        return v;
    }

    public Path file() { return file; }

    /** The value at a dotted path, or null. */
    public String get(String path) { return values.get(path); }

    /** The integer at a dotted path, or null when absent; a value that is not an integer is an error naming the file. */
    public Integer integer(String path) {
        String v = values.get(path);
        if (v == null) return null;
        try {
            int i = Integer.parseInt(v);
            if (i < 1) throw new NumberFormatException();
            return i;
        } catch (NumberFormatException e) {
            throw new CheckpointException(file, path + ": '" + v + "' is not a positive integer");
        }
    }
}
