package dev.panamadiffusion.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.panamadiffusion.config.ConfigJson;
import dev.panamadiffusion.tensor.Tensor;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * A single-file Stable Diffusion checkpoint ({@code .safetensors} in the original CompVis/LDM layout, as most shared
 * weights are), presented under diffusers names: configs derived from the tensor shapes, and each component's tensors
 * as zero-copy views of the memory-mapped file ({@link LdmKeyMap}). Opening it checks, before anything is uploaded, that
 * every tensor the derived model needs is there and that no tensor of an unknown layout is.
 *
 * <p>What the tensors cannot say comes from the family's conventions, as diffusers' {@code from_single_file} does:
 * UNet attention heads 8 (SD 1.x) or one per 64 channels (SD 2.x, SDXL), text encoder heads one per 64 channels, PNDM
 * with SD's scaled-linear betas (0.00085 to 0.012) for SD 1.x/2.x and Euler with the same betas for SDXL, VAE scaling
 * 0.18215 (SDXL: 0.13025, with {@code force_upcast}), the SD 1.x CLIP tokenizer (SD 2.x and SDXL's second tokenizer pad
 * with {@code "!"}). An LDM config beside the file ({@code name.yaml}) overrides the prediction type
 * ({@code parameterization: "v"}, or SDXL's {@code denoiser_config} with {@code VScaling}), the UNet heads
 * ({@code num_heads}, {@code num_head_channels} under {@code unet_config}, or SDXL's {@code network_config}) and the
 * VAE's {@code scale_factor}; the caller's {@link PredictionType} overrides the prediction type. Without either, SD 2.x
 * is taken to predict v (the 768 × 768 SD 2.x models; pass epsilon for SD 2.x base), as diffusers does.
 *
 * <p>SDXL base files ({@code conditioner.embedders.*}) add {@code text_encoder_2} (OpenCLIP ViT-bigG as a
 * CLIPTextModelWithProjection, every layer) and the UNet's {@code text_time} added embedding, whose
 * {@code addition_time_embed_dim} is (label_emb's input width − text_encoder_2's projection) / 6. SDXL refiner files
 * ({@code conditioner.embedders.0.model.*}: OpenCLIP ViT-bigG alone) have that {@code text_encoder_2} and no
 * {@code text_encoder}, and 5 time ids (original size, crop, aesthetic score): diffusers' {@code convert_from_ckpt}
 * makes them a {@code StableDiffusionXLImg2ImgPipeline} with {@code requires_aesthetics_score} and
 * {@code force_zeros_for_empty_prompt} false, which {@link ModelFolder#open} follows.
 */
public final class LdmCheckpoint {
    /** Extensions of pickle-based checkpoints, which are refused. */
    private static final Set<String> PICKLE = Set.of("ckpt", "pt", "pth", "bin", "pkl", "pickle");
    private static final String DIFFUSERS_VERSION = "0.27.2";

    private final Path file;
    private final LdmLayout layout;
    private final LdmKeyMap keyMap;
    private final PredictionType prediction;
    private final Map<String, ObjectNode> configs = new LinkedHashMap<>();
    private final Map<String, String> ignored = new TreeMap<>();
    private Arena mappedArena;
    private SafeTensors mapped;

    private LdmCheckpoint(Path file, LdmLayout layout, LdmKeyMap keyMap, PredictionType prediction) {
        this.file = file;
        this.layout = layout;
        this.keyMap = keyMap;
        this.prediction = prediction;
    }

    /**
     * Opens and checks {@code file}; {@code prediction} null means the LDM config beside the file, else the family's
     * default. Every refusal is a {@link CheckpointException} saying why in one line.
     */
    public static LdmCheckpoint open(Path file, PredictionType prediction) {
        refusePickle(file);
        SafeTensors st;
        try {
            st = SafeTensors.open(file, Arena.ofAuto());
        } catch (SafeTensorsException e) {
            String msg = e.getMessage().startsWith(file + ": ") ? e.getMessage().substring(file.toString().length() + 2) : e.getMessage();
            throw new CheckpointException(file, "is not a complete safetensors file: " + msg, e);
        }
        Map<String, long[]> shapes = new LinkedHashMap<>();
        st.tensors().forEach((k, t) -> shapes.put(k, t.shape()));
        LdmLayout layout = LdmLayout.read(file, shapes);
        LdmYaml yaml = LdmYaml.besides(file);
        PredictionType p = prediction != null ? prediction : yamlPrediction(yaml);
        if (p == null) p = layout.openClip() && !layout.inpainting() ? PredictionType.V_PREDICTION : PredictionType.EPSILON;
        LdmCheckpoint c = new LdmCheckpoint(file, layout, LdmKeyMap.of(layout, shapes), p);
        c.check(shapes);
        c.configs.put("unet", c.unetConfig(yaml));
        c.configs.put("vae", c.vaeConfig(yaml));
        if (!layout.refiner()) c.configs.put("text_encoder", c.textConfig());
        if (layout.sdxl()) c.configs.put("text_encoder_2", c.textEncoder2Config());
        c.configs.put("scheduler", c.schedulerConfig());
        return c;
    }

    private static void refusePickle(Path file) {
        String name = file.getFileName().toString();
        String ext = name.contains(".") ? name.substring(name.lastIndexOf('.') + 1).toLowerCase(Locale.ROOT) : "";
        boolean pickle = PICKLE.contains(ext);
        if (!pickle && Files.isRegularFile(file)) {
            byte[] head = new byte[4];
            try (InputStream in = Files.newInputStream(file)) {
                int n = in.readNBytes(head, 0, 4);
                // a zip archive (torch.save since 1.6) or a bare pickle (protocol 2 to 5)
                pickle = n == 4 && (head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4
                        || (head[0] & 0xff) == 0x80 && head[1] >= 2 && head[1] <= 5);
            } catch (IOException e) {
                throw new CheckpointException(file, "cannot read: " + e.getMessage(), e);
            }
        }
        if (pickle) {
            throw new CheckpointException(file, "is a pickle checkpoint (.ckpt/.pt/.pth/.bin): loading one can run arbitrary"
                    + " code, so it is not read. Convert it to .safetensors once, where you trust it (e.g. diffusers'"
                    + " scripts/convert_original_stable_diffusion_to_diffusers.py --checkpoint_path FILE --from_safetensors"
                    + " false --to_safetensors --dump_path DIR, or torch.load + safetensors.torch.save_file of its"
                    + " state_dict), and pass the result");
        }
    }

    private static PredictionType yamlPrediction(LdmYaml yaml) {
        String v = yaml == null ? null : yaml.get("model.params.parameterization");
        if (v == null && yaml != null) {   // SDXL (generative-models): the denoiser's scaling says it
            String scaling = yaml.get("model.params.denoiser_config.params.scaling_config.target");
            v = scaling != null && scaling.endsWith(".VScaling") ? "v" : "eps";
        }
        if (v == null) return null;
        return switch (v) {
            case "v" -> PredictionType.V_PREDICTION;
            case "eps" -> PredictionType.EPSILON;
            default -> throw new CheckpointException(yaml.file(), "model.params.parameterization: '" + v + "' is not eps or v");
        };
    }

    /** Every tensor the model needs is there; every other tensor is one this runtime knows to leave out. */
    private void check(Map<String, long[]> shapes) {
        Set<String> used = new TreeSet<>();
        List<String> missing = new ArrayList<>();
        int required = 0;
        for (LdmKeyMap.Entry e : keyMap.entries()) {
            used.add(e.ldmKey());
            if (e.optional()) continue;
            required++;
            if (!shapes.containsKey(e.ldmKey()) && !missing.contains(e.ldmKey())) missing.add(e.ldmKey());
        }
        if (!missing.isEmpty()) {
            throw new CheckpointException(file, "is an incomplete " + layout.family() + " checkpoint (truncated, or a"
                    + " partial export): " + missing.size() + " of the tensors it needs are missing: " + some(missing));
        }
        List<String> unknown = new ArrayList<>();
        for (String k : shapes.keySet()) {
            if (used.contains(k)) continue;
            String why = layout.ignoredBecause(k);
            if (why == null) unknown.add(k);
            else ignored.put(k, why);
        }
        if (!unknown.isEmpty()) {
            throw new CheckpointException(file, "has " + unknown.size() + " tensors a " + layout.family()
                    + " checkpoint does not (an unknown key layout, or another model type): " + some(unknown));
        }
        if (required == 0) throw new CheckpointException(file, "maps no tensors");
    }

    private static String some(List<String> keys) {
        return String.join(", ", keys.subList(0, Math.min(5, keys.size()))) + (keys.size() > 5 ? ", …" : "");
    }

    // ---- configs ------------------------------------------------------------------------------------------------

    private ObjectNode unetConfig(LdmYaml yaml) {
        int n = layout.unetChannels().length;
        boolean sd2 = layout.openClip(), sdxl = layout.sdxl();
        ObjectNode j = node("UNet2DConditionModel");
        boolean v = prediction == PredictionType.V_PREDICTION;
        j.put("sample_size", sdxl ? 128 : sd2 && v ? 96 : 64); // 1024, 768 or 512 pixels
        j.put("in_channels", layout.unetIn()).put("out_channels", layout.unetOut());
        ArrayNode down = j.putArray("down_block_types"), up = j.putArray("up_block_types"), ch = j.putArray("block_out_channels");
        for (int i = 0; i < n; i++) {
            down.add(layout.downAttention()[i] ? "CrossAttnDownBlock2D" : "DownBlock2D");
            up.add(layout.upAttention()[i] ? "CrossAttnUpBlock2D" : "UpBlock2D");
            ch.add(layout.unetChannels()[i]);
        }
        j.put("layers_per_block", layout.unetLayers());
        int[] depth = layout.transformerDepth();
        if (Arrays.stream(depth).allMatch(d -> d == depth[0])) {
            j.put("transformer_layers_per_block", depth[0]);
        } else {
            ArrayNode a = j.putArray("transformer_layers_per_block");
            for (int d : depth) a.add(d);
        }
        j.put("cross_attention_dim", layout.crossAttentionDim());
        j.put("use_linear_projection", layout.linearProjection());
        j.put("upcast_attention", sd2 && v); // as diffusers' SD 2.1 768-v config
        j.put("norm_num_groups", 32);
        if (sdxl) addedEmbedding(j);
        // diffusers' attention_head_dim is the number of heads for these models
        String params = yaml != null && yaml.get("model.params.network_config.target") != null
                ? "model.params.network_config.params." : "model.params.unet_config.params.";   // SDXL's, or SD's
        Integer heads = yaml == null ? null : yaml.integer(params + "num_heads");
        Integer headChannels = yaml == null ? null : yaml.integer(params + "num_head_channels");
        if (heads == null && headChannels == null && !sd2 && !sdxl) heads = 8;
        if (heads != null) {
            j.put("attention_head_dim", heads);
        } else {
            int per = headChannels == null ? 64 : headChannels;
            ArrayNode a = j.putArray("attention_head_dim");
            for (int c : layout.unetChannels()) {
                if (c % per != 0) {
                    throw new CheckpointException(file, "UNet width " + c + " is not a multiple of " + per
                            + " channels per attention head" + (headChannels == null ? " (" + (sdxl ? "SDXL" : "SD 2.x")
                            + "'s; an LDM .yaml beside the file can say otherwise)" : ""));
                }
                a.add(c / per);
            }
        }
        return j;
    }

    /**
     * SDXL's {@code text_time} embedding: label_emb's input is 6 time ids (the refiner: 5) × addition_time_embed_dim
     * (sinusoidal) and text_encoder_2's projected pooled output, which the projection's width gives.
     */
    private void addedEmbedding(ObjectNode j) {
        int in = layout.addEmbeddingIn(), pooled = layout.text2().projection();
        int ids = layout.refiner() ? 5 : 6;
        if (in <= pooled || (in - pooled) % ids != 0 || (in - pooled) / ids % 2 != 0) {
            throw new CheckpointException(file, "the UNet's added embedding (" + LdmLayout.UNET + "label_emb.0.0.weight) takes "
                    + in + " inputs, which is not " + ids + " time ids of an even width plus the " + pooled + " of text_encoder_2's"
                    + " projection: the UNet and the text encoders do not belong together");
        }
        j.put("addition_embed_type", "text_time");
        j.put("addition_time_embed_dim", (in - pooled) / ids);
        j.put("projection_class_embeddings_input_dim", in);
    }

    private ObjectNode vaeConfig(LdmYaml yaml) {
        ObjectNode j = node("AutoencoderKL");
        int n = layout.vaeBlocks();
        ArrayNode down = j.putArray("down_block_types"), up = j.putArray("up_block_types"), ch = j.putArray("block_out_channels");
        for (int i = 0; i < n; i++) {
            down.add("DownEncoderBlock2D");
            up.add("UpDecoderBlock2D");
            ch.add(layout.vaeChannels()[i]);
        }
        j.put("in_channels", layout.vaeIn()).put("out_channels", layout.vaeOut()).put("latent_channels", layout.latentChannels());
        j.put("layers_per_block", layout.vaeLayers()).put("norm_num_groups", 32).put("act_fn", "silu");
        j.put("sample_size", configs.get("unet").get("sample_size").asInt() * 8);
        String scale = yaml == null ? null : yaml.get("model.params.scale_factor");
        double scaling = layout.sdxl() ? 0.13025 : 0.18215;
        if (scale != null) {
            try {
                scaling = Double.parseDouble(scale);
                if (!(scaling > 0) || Double.isInfinite(scaling)) throw new NumberFormatException();
            } catch (NumberFormatException e) {
                throw new CheckpointException(yaml.file(), "model.params.scale_factor: '" + scale + "' is not a positive number");
            }
        }
        j.put("scaling_factor", scaling);
        if (layout.sdxl()) j.put("force_upcast", true); // as SDXL base's vae/config.json
        return j;
    }

    private ObjectNode textConfig() {
        ObjectNode j = ConfigJson.MAPPER.createObjectNode();
        j.putArray("architectures").add("CLIPTextModel");
        j.put("model_type", "clip_text_model");
        int hidden = layout.textHidden();
        if (hidden % 64 != 0) throw new CheckpointException(file, "text encoder width " + hidden + " is not a multiple of CLIP's 64 channels per head");
        j.put("vocab_size", layout.textVocab()).put("hidden_size", hidden).put("intermediate_size", layout.textIntermediate());
        j.put("num_hidden_layers", layout.textLayers()).put("num_attention_heads", hidden / 64);
        j.put("max_position_embeddings", layout.textPositions());
        j.put("hidden_act", layout.openClip() ? "gelu" : "quick_gelu").put("layer_norm_eps", 1e-5);
        j.put("projection_dim", layout.openClip() ? 512 : 768);
        j.put("bos_token_id", 0).put("eos_token_id", 2).put("pad_token_id", 1); // as SD's configs (informational)
        return j;
    }

    /** SDXL's text_encoder_2: OpenCLIP ViT-bigG as transformers' CLIPTextModelWithProjection, every layer. */
    private ObjectNode textEncoder2Config() {
        LdmLayout.OpenClipTower t = layout.text2();
        ObjectNode j = ConfigJson.MAPPER.createObjectNode();
        j.putArray("architectures").add("CLIPTextModelWithProjection");
        j.put("model_type", "clip_text_model");
        if (t.hidden() % 64 != 0) throw new CheckpointException(file, "text encoder 2 width " + t.hidden() + " is not a multiple of CLIP's 64 channels per head");
        j.put("vocab_size", t.vocab()).put("hidden_size", t.hidden()).put("intermediate_size", t.intermediate());
        j.put("num_hidden_layers", t.layers()).put("num_attention_heads", t.hidden() / 64);
        j.put("max_position_embeddings", t.positions());
        j.put("hidden_act", "gelu").put("layer_norm_eps", 1e-5).put("projection_dim", t.projection());
        j.put("bos_token_id", 0).put("eos_token_id", 2).put("pad_token_id", 1); // informational
        return j;
    }

    private ObjectNode schedulerConfig() {
        if (layout.sdxl()) {   // convert_from_ckpt's SDXL scheduler (what SDXL base and the refiner ship)
            ObjectNode j = node("EulerDiscreteScheduler");
            j.put("beta_start", 0.00085).put("beta_end", 0.012).put("beta_schedule", "scaled_linear");
            j.put("num_train_timesteps", 1000).put("steps_offset", 1).put("timestep_spacing", "leading");
            j.put("interpolation_type", "linear").put("use_karras_sigmas", false).put("prediction_type", prediction.configName());
            j.putNull("trained_betas");
            return j;
        }
        ObjectNode j = node("PNDMScheduler");
        j.put("beta_start", 0.00085).put("beta_end", 0.012).put("beta_schedule", "scaled_linear");
        j.put("num_train_timesteps", 1000).put("set_alpha_to_one", false).put("skip_prk_steps", true);
        j.put("steps_offset", 1).put("clip_sample", false).put("prediction_type", prediction.configName());
        j.putNull("trained_betas");
        return j;
    }

    private static ObjectNode node(String className) {
        ObjectNode j = ConfigJson.MAPPER.createObjectNode();
        j.put("_class_name", className).put("_diffusers_version", DIFFUSERS_VERSION);
        return j;
    }

    // ---- accessors ----------------------------------------------------------------------------------------------

    public Path file() { return file; }

    /** "SD 1.x", "SD 2.x", "SD 1.x inpainting", "SDXL", ... */
    public String family() { return layout.family(); }

    public boolean isSd2() { return layout.openClip(); }

    /**
     * SDXL base or refiner: {@code text_encoder_2}, {@code tokenizer_2} and the UNet's text_time embedding (base also
     * {@code text_encoder}).
     */
    public boolean isSdxl() { return layout.sdxl(); }

    /** The SDXL refiner: {@code text_encoder_2} alone and 5 time ids (original size, crop, aesthetic score). */
    public boolean isSdxlRefiner() { return layout.refiner(); }

    public boolean isInpainting() { return layout.inpainting(); }

    public PredictionType prediction() { return prediction; }

    /** The components an SD 1.x or 2.x file holds, as a diffusers folder names them. */
    public static final List<String> COMPONENTS = List.of("unet", "vae", "text_encoder", "tokenizer", "scheduler");
    /** The components an SDXL base file holds. */
    public static final List<String> SDXL_COMPONENTS = List.of("unet", "vae", "text_encoder", "text_encoder_2", "tokenizer",
            "tokenizer_2", "scheduler");

    /** The components an SDXL refiner file holds. */
    public static final List<String> SDXL_REFINER_COMPONENTS = List.of("unet", "vae", "text_encoder_2", "tokenizer_2", "scheduler");

    /** The components this file holds ({@link #COMPONENTS}, {@link #SDXL_COMPONENTS} or {@link #SDXL_REFINER_COMPONENTS}). */
    public List<String> components() {
        return layout.refiner() ? SDXL_REFINER_COMPONENTS : layout.sdxl() ? SDXL_COMPONENTS : COMPONENTS;
    }

    /** The diffusers config of {@code unet}, {@code vae}, {@code text_encoder}, {@code text_encoder_2} (SDXL) or {@code scheduler} (a copy). */
    public JsonNode config(String component) {
        ObjectNode c = configs.get(component);
        if (c == null) throw new IllegalArgumentException(file + ": a single-file checkpoint has no " + component + " config");
        return c.deepCopy();
    }

    public LdmKeyMap keyMap() { return keyMap; }

    /** Tensors of the file left out of the model, with why (training state, OpenCLIP's unused last layer, head or temperature). */
    public Map<String, String> ignored() { return Collections.unmodifiableMap(ignored); }

    /**
     * The {@code component}'s tensors under diffusers names, views of the file mapped into {@code arena} (mapped once
     * per arena); valid while the arena is open.
     */
    public synchronized Map<String, Tensor> weights(String component, Arena arena) {
        if (mapped == null || mappedArena != arena) {
            try {
                mapped = SafeTensors.open(file, arena);
            } catch (SafeTensorsException e) {
                throw new CheckpointException(file, "changed since it was opened: " + e.getMessage(), e);
            }
            mappedArena = arena;
        }
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (LdmKeyMap.Entry e : keyMap.entries()) {
            if (!e.component().equals(component)) continue;
            if (e.optional() && !mapped.contains(e.ldmKey())) continue;
            Tensor t = mapped.get(e.ldmKey());
            out.put(e.diffusersKey(), switch (e.view()) {
                case AS_IS -> t;
                case ROWS -> t.slice(0, e.rowStart(), e.rowEnd());
                case SQUEEZE_1X1 -> squeeze(t);
                case TRANSPOSE -> t.rank() == 2 ? t.transpose(0, 1) : t; // a strided view; other ranks: the shape check reports them
            });
        }
        if (out.isEmpty()) throw new IllegalArgumentException(file + ": a single-file checkpoint has no " + component + " weights");
        return out;
    }

    /** [C, C, 1, 1] → [C, C]; other shapes as they are (the model's shape check reports them). */
    private static Tensor squeeze(Tensor t) {
        long[] s = t.shape();
        return s.length == 4 && s[2] == 1 && s[3] == 1 ? t.reshape(s[0], s[1]) : t;
    }

    /** The LDM key behind a diffusers key of {@code component}, or the diffusers key itself when it has none. */
    public String ldmKey(String component, String diffusersKey) {
        for (LdmKeyMap.Entry e : keyMap.entries()) {
            if (e.component().equals(component) && e.diffusersKey().equals(diffusersKey)) {
                return switch (e.view()) {
                    case ROWS -> e.ldmKey() + "[" + e.rowStart() + ":" + e.rowEnd() + "]";
                    case TRANSPOSE -> e.ldmKey() + " (transposed)";
                    default -> e.ldmKey();
                };
            }
        }
        return diffusersKey;
    }

    /**
     * One line for weights that did not bind to the derived {@code component} (a tensor of the wrong shape: the file's
     * parts do not belong together), naming LDM keys.
     */
    public CheckpointException bindingFailure(String component, List<String> missing, List<String> mismatched,
                                              List<String> unexpected, Throwable cause) {
        List<String> parts = new ArrayList<>();
        for (String m : mismatched) {
            int colon = m.indexOf(':');
            parts.add(colon < 0 ? m : ldmKey(component, m.substring(0, colon)) + m.substring(colon));
        }
        for (String m : missing) parts.add(ldmKey(component, m.split(" ")[0]) + ": missing");
        for (String u : unexpected) parts.add(ldmKey(component, u) + ": not used");
        return new CheckpointException(file, "the " + component + " tensors of this " + layout.family()
                + " checkpoint do not fit together (a mismatched or damaged file): " + some(parts), cause);
    }
}
