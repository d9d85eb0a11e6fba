package dev.panamadiffusion.lora;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.io.LdmKeyMap;
import dev.panamadiffusion.models.clip.CLIPTextModel;
import dev.panamadiffusion.models.clip.CLIPTextModelWithProjection;
import dev.panamadiffusion.models.unet.UNet2DConditionConfig;
import dev.panamadiffusion.models.unet.UNet2DConditionModel;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.weights.Param;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Applies LoRAs to a loaded UNet and text encoders by merging them into the weights, and removes them again without
 * reloading: the base weights stay as loaded (for a mapped file, read-only views of it); each layer a LoRA touches gets
 * a merged copy, {@code W + Σ scale · (alpha / rank) · up @ down} computed in f32 from the base and uploaded, which the
 * layer computes with ({@link Param#patch}). {@link #set} replaces the active LoRAs (always merging from the base, so
 * nothing drifts); {@link #clear} puts every base tensor back, bit for bit.
 *
 * <p>The components are diffusers' ({@code unet}, {@code text_encoder}, and for SDXL {@code text_encoder_2}); which a
 * model has decides what fits it. Every LoRA is read and checked before any weight changes: a key that names a
 * component the model does not have or no layer of it, or a pair whose shapes do not fit its layer (a LoRA for another
 * architecture, such as SDXL on SD 1.5 or SD 1.5 on SDXL), is a {@link LoraException} and the active LoRAs stay as
 * they were.
 */
public final class LoraPatcher {
    private final Backend backend;
    private final Map<String, Map<String, Param>> components = new LinkedHashMap<>(); // "unet" -> key -> param
    private final Map<String, Map<String, String>> flatNames = new HashMap<>();      // "unet" -> kohya name -> module
    private final Map<String, String> ldmNames = new HashMap<>();                    // kohya LDM name -> UNet module
    private final String otherArchitectures; // what a LoRA that does not fit is most likely for, in messages
    private List<LoraSpec> active = List.of();
    private final List<Param> patched = new ArrayList<>();

    /**
     * A patcher over the swappable weights of a UNet ({@code unet}) and text encoder ({@code textEncoder}), by diffusers
     * key; a null component is not loaded here and a LoRA's layers for it are skipped (a pipeline fed embeddings has no
     * text encoder). {@code unetLdmNames} (diffusers key → LDM key, may be empty) lets kohya LoRAs name UNet layers as
     * in an LDM checkpoint.
     */
    public LoraPatcher(Backend backend, Map<String, Param> unet, Map<String, Param> textEncoder, Map<String, String> unetLdmNames) {
        this(backend, sd(unet, textEncoder), unetLdmNames);
    }

    private static Map<String, Map<String, Param>> sd(Map<String, Param> unet, Map<String, Param> textEncoder) {
        Map<String, Map<String, Param>> c = new LinkedHashMap<>();
        c.put("unet", unet);
        c.put("text_encoder", textEncoder);
        return c;
    }

    /**
     * A patcher over the swappable weights of a model's components by diffusers name ({@code unet},
     * {@code text_encoder}, {@code text_encoder_2}), each by diffusers/transformers key. A component mapped to null is
     * part of the model but not loaded here: a LoRA's layers for it are skipped; a LoRA layer for a component not in
     * {@code components} is refused (SDXL's {@code text_encoder_2} on SD 1.5). {@code unetLdmNames} as in
     * {@link #LoraPatcher(Backend, Map, Map, Map)}.
     */
    public LoraPatcher(Backend backend, Map<String, Map<String, Param>> components, Map<String, String> unetLdmNames) {
        this.backend = backend;
        this.components.putAll(components);
        this.otherArchitectures = components.containsKey("text_encoder_2") ? "e.g. SD 1.x/2.x on SDXL" : "e.g. SDXL on SD 1.5";
        Map<String, Param> unet = components.get("unet");
        for (Map.Entry<String, Map<String, Param>> c : components.entrySet()) {
            if (c.getValue() == null) continue;
            Map<String, String> flat = new HashMap<>();
            for (String key : c.getValue().keySet()) {
                String module = module(key);
                flat.put(module.replace('.', '_'), module);
            }
            flatNames.put(c.getKey(), flat);
        }
        for (Map.Entry<String, String> e : unetLdmNames.entrySet()) {
            if (unet != null && unet.containsKey(e.getKey())) ldmNames.put(module(e.getValue()).replace('.', '_'), module(e.getKey()));
        }
    }

    /**
     * A patcher for an SD 1.x/2.x model's UNet and text encoder (either may be null: not loaded here, see the
     * constructor); LoRA layers for SDXL's {@code text_encoder_2} are refused.
     */
    public static LoraPatcher of(Backend backend, UNet2DConditionModel unet, CLIPTextModel textEncoder) {
        return new LoraPatcher(backend, sd(unet == null ? null : unet.params(), textEncoder == null ? null : textEncoder.params()),
                ldmNames(unet));
    }

    /**
     * A patcher for an SDXL model: its UNet, {@code text_encoder} (CLIP ViT-L) and {@code text_encoder_2} (OpenCLIP
     * bigG); any may be null: not loaded here, its LoRA layers skipped.
     */
    public static LoraPatcher ofSdxl(Backend backend, UNet2DConditionModel unet, CLIPTextModel textEncoder,
                                     CLIPTextModelWithProjection textEncoder2) {
        Map<String, Map<String, Param>> c = sd(unet == null ? null : unet.params(), textEncoder == null ? null : textEncoder.params());
        c.put("text_encoder_2", textEncoder2 == null ? null : textEncoder2.params());
        return new LoraPatcher(backend, c, ldmNames(unet));
    }

    /**
     * The LDM name of each of {@code unet}'s weights by diffusers key (empty without a UNet, or when its levels have
     * different resnet counts, which the LDM layout cannot express), with the per-level transformer depth.
     */
    private static Map<String, String> ldmNames(UNet2DConditionModel unet) {
        if (unet == null) return Map.of();
        UNet2DConditionConfig c = unet.config();
        int n = c.numBlocks();
        if (Arrays.stream(c.layersPerBlock()).distinct().count() != 1 || c.transformerLayersPerBlock().length != n) return Map.of();
        boolean[] down = new boolean[n], up = new boolean[n];
        for (int i = 0; i < n; i++) {
            down[i] = c.downBlockTypes()[i].startsWith("CrossAttn");
            up[i] = c.upBlockTypes()[i].startsWith("CrossAttn");
        }
        return LdmKeyMap.unetLdmNames(c.blockOutChannels(), c.layersPerBlock()[0], down, up, c.transformerLayersPerBlock());
    }

    /** The LoRAs applied now, in the order given to {@link #set}. */
    public synchronized List<LoraSpec> active() { return active; }

    /** How many weights currently compute with a merged copy. */
    public synchronized int patchedWeights() { return patched.size(); }

    /** One layer's update from one LoRA: {@code factor · up @ down}. */
    private record Update(Param param, Tensor down, Tensor up, float factor) {}

    /**
     * Makes {@code specs} the active LoRAs (an empty list removes all): every file is read and checked first, then
     * every weight is restored and the touched ones merged anew. On a {@link LoraException} nothing changed.
     */
    public synchronized void set(List<LoraSpec> specs) {
        try (Arena arena = Arena.ofConfined()) {
            Map<Param, List<Update>> updates = new LinkedHashMap<>();
            for (LoraSpec spec : specs) {
                LoraFile file = LoraFile.read(spec.file(), arena);
                for (LoraFile.Pair p : file.pairs()) {
                    if (components.containsKey(p.component()) && components.get(p.component()) == null) continue; // not loaded here
                    Param param = resolve(file, p);
                    float factor = (float) (spec.scale() * (p.alpha() == null ? 1.0 : p.alpha() / p.rank()));
                    updates.computeIfAbsent(param, k -> new ArrayList<>()).add(new Update(param, p.down(), p.up(), factor));
                }
            }
            restoreAll();
            try {
                for (Map.Entry<Param, List<Update>> e : updates.entrySet()) {
                    Param param = e.getKey();
                    param.patch(backend.upload(merged(param, e.getValue())));
                    patched.add(param);
                }
            } catch (RuntimeException | Error e) {
                restoreAll();
                active = List.of();
                throw e;
            }
            active = List.copyOf(specs);
        }
    }

    /** Removes every LoRA: each weight computes with the tensor it was loaded with again. */
    public synchronized void clear() {
        restoreAll();
        active = List.of();
    }

    private void restoreAll() {
        for (Param p : patched) p.restore();
        patched.clear();
    }

    /** The layer {@code p} patches, its shapes checked; a LoRA for another model fails here, naming the key. */
    private Param resolve(LoraFile file, LoraFile.Pair p) {
        Map<String, Param> params = components.get(p.component());
        String module = null;
        if (params != null) {
            if (!p.kohya()) module = p.module();
            else {
                module = flatNames.get(p.component()).get(p.module());
                if (module == null && p.component().equals("unet")) module = ldmNames.get(p.module());
            }
        }
        Param param = module == null || params == null ? null : params.get(module + ".weight");
        if (param == null) {
            long unmatched = file.pairs().stream().filter(q -> !matches(q)).count();
            String where = params == null ? "the " + p.component() + ", which this model does not have"
                    : "no layer of this model's " + p.component();
            throw new LoraException("LoRA " + file.file() + " does not fit this model: '" + p.sourceKey() + "' names " + where
                    + " (" + unmatched + " of " + file.pairs().size() + " layers match none; a LoRA for another architecture, "
                    + otherArchitectures + "?)");
        }
        long[] w = param.shape();
        long cols = Tensor.numel(w) / w[0];
        long downCols = p.down().numel() / p.down().dim(0);
        if (p.up().dim(0) != w[0] || downCols != cols || p.down().rank() == 4 && w.length == 4 && p.down().dim(2) != w[2]) {
            throw new LoraException("LoRA " + file.file() + " does not fit this model: '" + p.sourceKey() + "' has up "
                    + Arrays.toString(p.up().shape()) + " and down " + Arrays.toString(p.down().shape()) + " but the layer "
                    + param.key() + " is " + Arrays.toString(w) + " (a LoRA for another architecture, " + otherArchitectures + "?)");
        }
        if (p.alpha() != null && !Float.isFinite(p.alpha())) {
            throw new LoraException("LoRA " + file.file() + ": the alpha of '" + p.sourceKey() + "' is " + p.alpha());
        }
        return param;
    }

    private boolean matches(LoraFile.Pair q) {
        Map<String, Param> params = components.get(q.component());
        if (params == null) return false;
        if (!q.kohya()) return params.containsKey(q.module() + ".weight");
        String m = flatNames.get(q.component()).get(q.module());
        if (m == null && q.component().equals("unet")) m = ldmNames.get(q.module());
        return m != null;
    }

    /** Host f32 {@code W + Σ factor · up @ down}, in W's shape. */
    private static Tensor merged(Param param, List<Update> updates) {
        long[] shape = param.shape();
        int out = Math.toIntExact(shape[0]);
        int cols = Math.toIntExact(Tensor.numel(shape) / shape[0]);
        float[] w = param.host().toFloatArray();
        float[] acc = new float[cols];
        for (Update u : updates) {
            int rank = Math.toIntExact(u.down().dim(0));
            float[] down = u.down().toFloatArray(); // [r, cols]
            float[] up = u.up().toFloatArray();     // [out, r]
            for (int i = 0; i < out; i++) {
                Arrays.fill(acc, 0f);
                for (int k = 0; k < rank; k++) {
                    float a = up[i * rank + k];
                    int row = k * cols;
                    for (int j = 0; j < cols; j++) acc[j] += a * down[row + j];
                }
                int base = i * cols;
                for (int j = 0; j < cols; j++) w[base + j] += u.factor() * acc[j];
            }
        }
        return Tensor.fromFloats(w, shape);
    }

    /** {@code down_blocks.0.attentions.0.proj_in.weight} → {@code down_blocks.0.attentions.0.proj_in}. */
    private static String module(String key) {
        return key.endsWith(".weight") ? key.substring(0, key.length() - ".weight".length()) : key;
    }
}
