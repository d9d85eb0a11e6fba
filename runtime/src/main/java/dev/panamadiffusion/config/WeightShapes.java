package dev.panamadiffusion.config;

import dev.panamadiffusion.tensor.Tensor;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.BitSet;
import java.util.Map;

/**
 * The weights as the final word on a config's sizes: compares a config's values with the shapes and counts of the
 * mapped safetensors tensors (nothing is allocated; only the headers are consulted) before any module is built, so a
 * config cannot make a loader allocate more than its weights imply. A disagreement is a {@link ConfigException}
 * naming the config file, the key, the config's value and the weights' ({@code unet/config.json: layers_per_block:
 * 1000000, but the weights have 1 (down_blocks.0.resnets.0 to .0)}).
 */
public final class WeightShapes {
    private final Path configFile;
    private final Map<String, Tensor> weights;

    /** Checks the config read from {@code configFile} against {@code weights} (tensors by checkpoint name). */
    public WeightShapes(Path configFile, Map<String, Tensor> weights) {
        this.configFile = configFile;
        this.weights = weights;
    }

    /** Dimension {@code axis} of tensor {@code key}; a missing tensor or a shorter shape is an error about {@code field}. */
    public long dim(String field, String key, int axis) {
        Tensor t = weights.get(key);
        if (t == null) {
            throw new ConfigException(configFile, field, "cannot be checked: the weights have no tensor '" + key
                    + "' (a checkpoint of another architecture?)");
        }
        long[] shape = t.shape();
        if (axis >= shape.length) {
            throw new ConfigException(configFile, field, "cannot be checked: tensor '" + key + "' has shape "
                    + Arrays.toString(shape) + ", expected at least " + (axis + 1) + " dimensions");
        }
        return shape[axis];
    }

    /** The config says {@code value} for {@code field}; dimension {@code axis} of tensor {@code key} must agree. */
    public void expect(String field, long value, String key, int axis) {
        long actual = dim(field, key, axis);
        if (actual != value) {
            throw new ConfigException(configFile, field, value + ", but the weights have " + actual + " (tensor '" + key
                    + "' has shape " + Arrays.toString(weights.get(key).shape()) + ")");
        }
    }

    /**
     * The config says there are {@code value} sub-modules {@code prefix0.}, {@code prefix1.}, ...; the weights must
     * have exactly that many, numbered from 0 without gaps.
     */
    public void expectCount(String field, long value, String prefix) {
        expectCount(field, value, value, prefix);
    }

    /** As {@link #expectCount(String, long, String)} where the config's {@code value} implies {@code expected} modules. */
    public void expectCount(String field, long value, long expected, String prefix) {
        int actual = count(prefix);
        if (actual != expected) {
            String range = actual == 0 ? "none under '" + prefix + "'" : actual + " ('" + prefix + "0' to '" + prefix + (actual - 1) + "')";
            throw new ConfigException(configFile, field, value + (expected == value ? "" : " (" + expected + " under '" + prefix + "')")
                    + ", but the weights have " + range);
        }
    }

    /** How many sub-modules {@code prefix0.}, {@code prefix1.}, ... the weights have, counting from 0 to the first gap. */
    public int count(String prefix) {
        BitSet seen = new BitSet();
        for (String key : weights.keySet()) {
            if (!key.startsWith(prefix)) continue;
            int end = key.indexOf('.', prefix.length());
            if (end < 0 || end == prefix.length() || end - prefix.length() > 6) continue;
            int index = 0;
            boolean digits = true;
            for (int i = prefix.length(); i < end; i++) {
                char ch = key.charAt(i);
                if (ch < '0' || ch > '9') {
                    digits = false;
                    break;
                }
                index = index * 10 + (ch - '0');
            }
            if (digits) seen.set(index);
        }
        return seen.nextClearBit(0);
    }

    /** True when the weights have tensor {@code key}. */
    public boolean has(String key) { return weights.containsKey(key); }
}
