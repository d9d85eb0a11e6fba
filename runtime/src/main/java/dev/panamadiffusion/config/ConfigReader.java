package dev.panamadiffusion.config;

import com.fasterxml.jackson.databind.JsonNode;

import java.nio.file.Path;
import java.util.Arrays;

/**
 * Typed, range-checked reading of one JSON config file: every getter takes the key, the value to use when the key is
 * absent, and the range a present value must lie in. A value of the wrong type or out of range is a
 * {@link ConfigException} naming the file and the key; nothing is silently replaced by a default (an explicit
 * {@code 0} is refused where the range starts at 1). Lists are bounded in length before anything is allocated for
 * them.
 */
public final class ConfigReader {
    private final Path file;
    private final JsonNode root;

    /** {@code file} names the source in messages (null for a config built in code); {@code root} must be an object. */
    public ConfigReader(Path file, JsonNode root) {
        if (root == null || !root.isObject()) {
            throw new ConfigException(file, null, "not a JSON object but " + (root == null ? "nothing" : root.getNodeType()));
        }
        this.file = file;
        this.root = root;
    }

    /** Reads {@code file} (see {@link ConfigJson#tree}). */
    public static ConfigReader of(Path file) {
        return new ConfigReader(file, ConfigJson.tree(file));
    }

    public Path file() { return file; }

    public JsonNode root() { return root; }

    /** A {@link ConfigException} for {@code key} in this file. */
    public ConfigException fail(String key, String problem) {
        return new ConfigException(file, key, problem);
    }

    /** True when the key is present and not null. */
    public boolean isSet(String key) {
        JsonNode v = root.get(key);
        return v != null && !v.isNull();
    }

    /** An integer in [min, max]; absent → {@code dflt}; null is an error. */
    public int integer(String key, int dflt, int min, int max) {
        Integer v = nullableInteger(key, dflt, min, max);
        if (v == null) throw fail(key, "must be an integer, not null");
        return v;
    }

    /** An integer in [min, max], or null; absent → {@code dflt}. */
    public Integer nullableInteger(String key, Integer dflt, int min, int max) {
        JsonNode v = root.get(key);
        if (v == null) return dflt;
        if (v.isNull()) return null;
        return toInt(key, v, min, max);
    }

    private int toInt(String key, JsonNode v, int min, int max) {
        double d;
        if (v.isIntegralNumber() && v.canConvertToLong()) {
            d = v.asLong();
        } else if (v.isNumber() && !v.isIntegralNumber() && Double.isFinite(v.asDouble()) && v.asDouble() == Math.rint(v.asDouble())) {
            d = v.asDouble(); // 1.0 where an integer is meant
        } else if (v.isIntegralNumber()) {
            throw fail(key, v + " is out of range [" + min + ", " + max + "]");
        } else {
            throw fail(key, "must be an integer, not " + describe(v));
        }
        if (d < min || d > max) throw fail(key, v + " is out of range [" + min + ", " + max + "]");
        return (int) d;
    }

    /** A finite number in [min, max]; absent → {@code dflt}. */
    public double number(String key, double dflt, double min, double max) {
        Double v = nullableNumber(key, dflt, min, max);
        if (v == null) throw fail(key, "must be a number, not null");
        return v;
    }

    /** A number in [min, max] or null; absent → {@code dflt}. NaN is refused; ±Infinity only when the range has it. */
    public Double nullableNumber(String key, Double dflt, double min, double max) {
        JsonNode v = root.get(key);
        if (v == null) return dflt;
        if (v.isNull()) return null;
        if (!v.isNumber()) throw fail(key, "must be a number, not " + describe(v));
        double d = v.asDouble();
        if (Double.isNaN(d) || d < min || d > max) throw fail(key, v + " is out of range [" + min + ", " + max + "]");
        return d;
    }

    /** true or false; absent or null → {@code dflt}. */
    public boolean bool(String key, boolean dflt) {
        JsonNode v = root.get(key);
        if (v == null || v.isNull()) return dflt;
        if (!v.isBoolean()) throw fail(key, "must be true or false, not " + describe(v));
        return v.asBoolean();
    }

    /** A string; absent → {@code dflt}; null is an error. */
    public String string(String key, String dflt) {
        String s = nullableString(key, dflt);
        if (s == null) throw fail(key, "must be a string, not null");
        return s;
    }

    /** A string or null; absent → {@code dflt}. */
    public String nullableString(String key, String dflt) {
        JsonNode v = root.get(key);
        if (v == null) return dflt;
        if (v.isNull()) return null;
        if (!v.isTextual()) throw fail(key, "must be a string, not " + describe(v));
        return v.asText();
    }

    /** A list of 1 to {@code maxLength} strings; absent → {@code dflt}. */
    public String[] strings(String key, int maxLength, String... dflt) {
        JsonNode v = root.get(key);
        if (v == null) return dflt.clone();
        checkList(key, v, maxLength, "strings");
        String[] out = new String[v.size()];
        for (int i = 0; i < out.length; i++) {
            if (!v.get(i).isTextual()) throw fail(key, "entry " + i + " must be a string, not " + describe(v.get(i)));
            out[i] = v.get(i).asText();
        }
        return out;
    }

    /** A list of 1 to {@code maxLength} integers, each in [min, max]; absent → {@code dflt}. */
    public int[] ints(String key, int maxLength, int min, int max, int... dflt) {
        JsonNode v = root.get(key);
        if (v == null) return dflt.clone();
        checkList(key, v, maxLength, "integers");
        int[] out = new int[v.size()];
        for (int i = 0; i < out.length; i++) out[i] = toInt(key, v.get(i), min, max);
        return out;
    }

    /** An integer or a list of exactly {@code n} integers (one per block), each in [min, max]; absent or null → dflt. */
    public int[] perBlockInts(String key, int dflt, int n, int min, int max) {
        JsonNode v = root.get(key);
        int[] out = new int[n];
        if (v == null || v.isNull()) {
            Arrays.fill(out, dflt);
            return out;
        }
        if (!v.isArray()) {
            Arrays.fill(out, toInt(key, v, min, max));
            return out;
        }
        if (v.size() != n) throw fail(key, "has " + v.size() + " entries but down_block_types has " + n);
        for (int i = 0; i < n; i++) out[i] = toInt(key, v.get(i), min, max);
        return out;
    }

    /** A boolean or a list of exactly {@code n} booleans; absent or null → dflt. */
    public boolean[] perBlockBools(String key, boolean dflt, int n) {
        JsonNode v = root.get(key);
        boolean[] out = new boolean[n];
        if (v == null || v.isNull() || v.isBoolean()) {
            Arrays.fill(out, v == null || v.isNull() ? dflt : v.asBoolean());
            return out;
        }
        if (!v.isArray() || v.size() != n) throw fail(key, "must be a boolean or " + n + " booleans, not " + describe(v));
        for (int i = 0; i < n; i++) {
            if (!v.get(i).isBoolean()) throw fail(key, "entry " + i + " must be true or false, not " + describe(v.get(i)));
            out[i] = v.get(i).asBoolean();
        }
        return out;
    }

    private void checkList(String key, JsonNode v, int maxLength, String of) {
        if (!v.isArray()) throw fail(key, "must be a list of " + of + ", not " + describe(v));
        if (v.isEmpty()) throw fail(key, "is an empty list");
        if (v.size() > maxLength) throw fail(key, "has " + v.size() + " entries, more than the " + maxLength + " this runtime accepts");
    }

    /** A value for a message: short values as JSON, long ones cut. */
    public static String describe(JsonNode v) {
        String s = v.toString();
        return s.length() <= 60 ? s : s.substring(0, 57) + "...";
    }
}
