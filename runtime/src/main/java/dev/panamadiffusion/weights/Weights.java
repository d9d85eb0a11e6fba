package dev.panamadiffusion.weights;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.io.ModelFiles;
import dev.panamadiffusion.io.ModelFolder;
import dev.panamadiffusion.tensor.Tensor;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * Strict weight binding by diffusers names. Modules ask for their keys under a prefix ({@code pp("down_blocks").pp(0)});
 * each key is checked for presence and shape, then uploaded to the backend. Missing keys and shape mismatches are
 * collected rather than thrown one at a time: {@link #finish()} fails with the full lists of missing, mismatched and
 * unexpected (never asked for) keys, so a module is only usable after {@code finish()} returned.
 */
public final class Weights {
    private final Root root;
    private final String prefix;

    private static final class Root {
        final Map<String, Tensor> source;
        final Backend backend;
        final String what;
        final Set<String> used = new LinkedHashSet<>();
        final List<String> missing = new java.util.ArrayList<>();
        final List<String> mismatched = new java.util.ArrayList<>();
        final Map<String, Tensor> uploaded = new LinkedHashMap<>();
        final Map<String, Param> params = new LinkedHashMap<>();
        final Set<String> deferred = new LinkedHashSet<>(); // key prefixes prepare() leaves to their first use
        float std;
        final java.util.SplittableRandom random; // non-null: generate every requested key instead of reading it

        Root(Map<String, Tensor> source, Backend backend, String what, java.util.SplittableRandom random) {
            this.source = source;
            this.backend = backend;
            this.what = what;
            this.random = random;
        }
    }

    private Weights(Root root, String prefix) {
        this.root = root;
        this.prefix = prefix;
    }

    /** Binds modules to {@code source} (host tensors, e.g. a mapped safetensors file), uploading to {@code backend}. */
    public static Weights of(Map<String, Tensor> source, Backend backend, String what) {
        return new Weights(new Root(source, backend, what, null), "");
    }

    /**
     * The module {@code build} makes from {@code componentDir}'s safetensors weights (mapped into {@code arena},
     * uploaded to {@code backend}), after checking that it bound every key and no key was left over ({@link #finish}).
     */
    public static <T> T load(Path componentDir, Backend backend, Arena arena, String what, Function<Weights, T> build) {
        return load(componentDir, backend, arena, what, weights -> { }, build);
    }

    /**
     * As {@link #load(Path, Backend, Arena, String, Function)}, but {@code check} sees the mapped tensors (nothing
     * uploaded yet) before {@code build} runs: a config is checked against the weights' shapes before any module is
     * allocated from it.
     */
    public static <T> T load(Path componentDir, Backend backend, Arena arena, String what,
                             Consumer<Map<String, Tensor>> check, Function<Weights, T> build) {
        Map<String, Tensor> source = ModelFiles.loadWeights(componentDir, arena);
        check.accept(java.util.Collections.unmodifiableMap(source));
        Weights w = of(source, backend, what + " " + componentDir);
        T module = build.apply(w);
        w.finish();
        w.prepare();
        return module;
    }

    /**
     * As {@link #load(Path, Backend, Arena, String, Consumer, Function)}, for component {@code component} of
     * {@code model}: a diffusers folder, or a single-file checkpoint whose tensors it presents under diffusers names;
     * for a single file, weights that do not bind are a {@link dev.panamadiffusion.io.CheckpointException} naming the
     * file's own keys.
     */
    public static <T> T load(ModelFolder model, String component, Backend backend, Arena arena, String what,
                             Consumer<Map<String, Tensor>> check, Function<Weights, T> build) {
        Map<String, Tensor> source = model.weights(component, arena);
        check.accept(java.util.Collections.unmodifiableMap(source));
        Weights w = of(source, backend, what + " " + model.describe(component));
        try {
            T module = build.apply(w);
            w.finish();
            w.prepare();
            return module;
        } catch (WeightBindingException e) {
            if (!model.isSingleFile()) throw e;
            throw model.checkpoint().bindingFailure(component, e.missing(), e.mismatched(), e.unexpected(), e);
        }
    }

    /**
     * Weights that generate every requested key with its expected shape: N(0, std²) entries from {@code seed}
     * (biases and norm weights included). For benchmarks and backend comparisons at real model sizes without a
     * checkpoint; requires every {@link #get} to pass its shape.
     */
    public static Weights random(Backend backend, long seed, float std) {
        Root root = new Root(new LinkedHashMap<>(), backend, "random(" + seed + ")", new java.util.SplittableRandom(seed));
        root.std = std;
        return new Weights(root, "");
    }

    /** The weights under {@code name.}. */
    public Weights pp(String name) {
        return new Weights(root, prefix + name + ".");
    }

    public Weights pp(int index) { return pp(Integer.toString(index)); }

    public Backend backend() { return root.backend; }

    /** Full key for {@code name} under this prefix. */
    public String key(String name) { return prefix + name; }

    public boolean contains(String name) { return root.random != null || root.source.containsKey(prefix + name); }

    /**
     * The tensor {@code name} uploaded to the backend, with its shape checked against {@code expectedShape}
     * (pass none to skip the check). A missing or mismatched key is recorded and null returned; see {@link #finish()}.
     */
    public Tensor get(String name, long... expectedShape) {
        String key = prefix + name;
        if (root.random != null && !root.source.containsKey(key)) {
            if (expectedShape.length == 0) throw new IllegalArgumentException("random weights need a shape for " + key);
            root.source.put(key, randomTensor(expectedShape));
        }
        Tensor t = root.source.get(key);
        if (t == null) {
            root.missing.add(key + (expectedShape.length > 0 ? " " + Arrays.toString(expectedShape) : ""));
            return null;
        }
        root.used.add(key);
        if (expectedShape.length > 0 && !Arrays.equals(t.shape(), expectedShape)) {
            root.mismatched.add(key + ": file has " + Arrays.toString(t.shape()) + ", model expects " + Arrays.toString(expectedShape));
            return null;
        }
        return root.uploaded.computeIfAbsent(key, k -> root.backend.upload(t));
    }

    /**
     * As {@link #get}, as a {@link Param}: a weight that can be swapped after loading (LoRA). Null when the key is
     * missing or mismatched (recorded for {@link #finish()}).
     */
    public Param param(String name, long... expectedShape) {
        Tensor t = get(name, expectedShape);
        if (t == null) return null;
        String key = prefix + name;
        return root.params.computeIfAbsent(key, k -> new Param(k, root.source.get(k), t));
    }

    /**
     * The {@link #param swappable weights} bound so far by full key, in binding order; a live view that a module keeps
     * while its children bind.
     */
    public Map<String, Param> params() { return java.util.Collections.unmodifiableMap(root.params); }

    private Tensor randomTensor(long[] shape) {
        float[] v = new float[Math.toIntExact(Tensor.numel(shape))];
        for (int i = 0; i < v.length; i++) {
            // Box-Muller from the seeded stream
            double u1 = 1.0 - root.random.nextDouble();
            double u2 = root.random.nextDouble();
            v[i] = (float) (root.std * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2));
        }
        return Tensor.fromFloats(v, shape);
    }

    /** Like {@link #get} but absent keys are allowed (returns null without recording). */
    public Tensor optional(String name, long... expectedShape) {
        return contains(name) ? get(name, expectedShape) : null;
    }

    /**
     * Accepts the key {@code name} if present without reading or uploading it: a buffer the model recomputes
     * (CLIP's {@code position_ids}), so that {@link #finish()} does not report it as unexpected.
     */
    public void ignore(String name) { root.used.add(prefix + name); }

    /** Keys never asked for. */
    public Set<String> unexpected() {
        Set<String> out = new TreeSet<>(root.source.keySet());
        out.removeAll(root.used);
        return out;
    }

    /**
     * The backend tensors bound so far, by full key in binding order (for {@link #random} weights, the generated
     * ones): to save a model's weights, or to bind a second model to the same tensors ({@link #of} on this map).
     */
    public Map<String, Tensor> bound() { return java.util.Collections.unmodifiableMap(root.uploaded); }

    /**
     * Hands the backend every {@link #param swappable weight} (the linear and convolution weights) bound so far, to
     * ready them before the first forward pass ({@link Backend#prepareWeights}: the CPU backend packs them).
     */
    public void prepare() {
        root.backend.prepareWeights(root.params.entrySet().stream()
                .filter(e -> root.deferred.stream().noneMatch(e.getKey()::startsWith)).map(e -> e.getValue().tensor()).toList());
    }

    /**
     * Leaves the weights under this prefix out of {@link #prepare()}: a part of the module that many runs never use
     * (the VAE's encoder, in text-to-image), readied by the backend at its first use instead.
     */
    public void deferPreparation() { root.deferred.add(prefix); }

    /** Throws {@link WeightBindingException} listing every missing, mismatched and unexpected key, if any. */
    public void finish() {
        Set<String> unexpected = unexpected();
        if (root.missing.isEmpty() && root.mismatched.isEmpty() && unexpected.isEmpty()) return;
        throw new WeightBindingException(root.what, List.copyOf(root.missing), List.copyOf(root.mismatched), List.copyOf(unexpected));
    }
}
