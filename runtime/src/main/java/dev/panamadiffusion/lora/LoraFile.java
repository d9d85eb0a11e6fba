package dev.panamadiffusion.lora;

import dev.panamadiffusion.io.SafeTensors;
import dev.panamadiffusion.io.SafeTensorsException;
import dev.panamadiffusion.tensor.Tensor;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A LoRA safetensors file read into its low-rank pairs, one per patched layer, in either of the layouts in use:
 * <ul>
 * <li>kohya-ss / AUTOMATIC1111: {@code lora_unet_<module>.lora_down.weight}, {@code .lora_up.weight}, {@code .alpha},
 * and {@code lora_te_<module>...} for the text encoder, where {@code <module>} is the diffusers module path with dots
 * turned into underscores ({@code down_blocks_0_attentions_0_proj_in}) or, for the UNet, the original LDM path
 * ({@code input_blocks_1_1_proj_in}, as kohya names every SDXL UNet layer); convolutions (LoCon) have 4-D
 * {@code lora_down} [r, in, k, k] and {@code lora_up} [out, r, 1, 1]. SDXL's two text encoders are {@code lora_te1_}
 * ({@code text_encoder}, CLIP ViT-L) and {@code lora_te2_} ({@code text_encoder_2}, OpenCLIP bigG under transformers'
 * names), as diffusers' {@code _convert_kohya_lora_to_diffusers} reads them;</li>
 * <li>diffusers/PEFT: {@code unet.<module>.lora_A.weight} / {@code lora_B.weight}, diffusers' own
 * {@code unet.<module>.lora.down.weight} / {@code .up.weight}, the attention-processor format
 * {@code <module>.processor.to_q_lora.down.weight} (no prefix), and {@code text_encoder.<module>.lora_linear_layer.down
 * .weight} (or {@code lora_A}, {@code to_q_lora}), {@code text_encoder_2.<module>...} the same for SDXL's second
 * encoder; an optional {@code <module>.alpha}.</li>
 * </ul>
 * The components are diffusers' names: {@code unet}, {@code text_encoder}, {@code text_encoder_2}; whether the model
 * has them is the {@link LoraPatcher}'s to decide.
 * Kohya module names are resolved against the model's own layer names ({@link LoraPatcher}), because the underscores
 * of a flattened name are ambiguous. The tensors are views of the mapped file, valid while its arena is open.
 */
public final class LoraFile {
    /** One patched layer: {@code delta = (alpha / rank) · up @ down}, alpha = rank when the file gives none. */
    public record Pair(String component, String module, boolean kohya, String sourceKey, Tensor down, Tensor up, Float alpha) {
        public long rank() { return down.dim(0); }
    }

    private final Path file;
    private final List<Pair> pairs;

    private LoraFile(Path file, List<Pair> pairs) {
        this.file = file;
        this.pairs = pairs;
    }

    public Path file() { return file; }

    public List<Pair> pairs() { return pairs; }

    /** The file's name without {@code .safetensors}: what {@code <lora:name:scale>} calls it. */
    public String name() { return LoraSpec.nameOf(file); }

    /** Maps and reads {@code file} into {@code arena}; anything not a LoRA this runtime applies is a {@link LoraException}. */
    public static LoraFile read(Path file, Arena arena) {
        Map<String, Tensor> tensors;
        try {
            tensors = SafeTensors.open(file, arena).tensors();
        } catch (SafeTensorsException e) {
            throw new LoraException("LoRA " + file + ": " + e.getMessage(), e);
        }
        return of(file, tensors);
    }

    /** The pairs of {@code tensors} (a LoRA file's tensors by key); {@code file} names it in messages. */
    public static LoraFile of(Path file, Map<String, Tensor> tensors) {
        if (tensors.isEmpty()) throw new LoraException("LoRA " + file + " holds no tensors");
        Map<String, Tensor[]> parts = new LinkedHashMap<>(); // "component\0module\0kohya" -> {down, up, alpha}
        Map<String, String> firstKey = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            String key = e.getKey();
            Parsed p = parse(key);
            if (p == null) {
                throw new LoraException("LoRA " + file + ": key '" + key + "' is not a LoRA weight this runtime applies"
                        + unsupportedHint(key));
            }
            String id = p.component + "\0" + p.module + "\0" + p.kohya;
            Tensor[] slot = parts.computeIfAbsent(id, k -> new Tensor[3]);
            firstKey.putIfAbsent(id, key);
            if (slot[p.part] != null) throw new LoraException("LoRA " + file + ": '" + key + "' repeats a weight of the same layer");
            slot[p.part] = e.getValue();
        }
        List<Pair> out = new ArrayList<>();
        for (Map.Entry<String, Tensor[]> e : parts.entrySet()) {
            String[] id = e.getKey().split("\0");
            Tensor[] s = e.getValue();
            String key = firstKey.get(e.getKey());
            if (s[DOWN] == null || s[UP] == null) {
                throw new LoraException("LoRA " + file + ": '" + key + "' has no matching " + (s[DOWN] == null ? "down (lora_A)" : "up (lora_B)")
                        + " weight");
            }
            Float alpha = null;
            if (s[ALPHA] != null) {
                if (s[ALPHA].numel() != 1) throw new LoraException("LoRA " + file + ": the alpha of '" + key + "' is not a scalar");
                alpha = s[ALPHA].getFloat(0);
            }
            Tensor down = s[DOWN], up = s[UP];
            if (down.rank() != 2 && down.rank() != 4 || up.rank() != 2 && up.rank() != 4) {
                throw new LoraException("LoRA " + file + ": '" + key + "' has down " + java.util.Arrays.toString(down.shape())
                        + " and up " + java.util.Arrays.toString(up.shape()) + ", not 2-D or 4-D");
            }
            if (up.rank() == 4 && (up.dim(2) != 1 || up.dim(3) != 1)) {
                throw new LoraException("LoRA " + file + ": '" + key + "' has an up weight " + java.util.Arrays.toString(up.shape())
                        + " with a spatial kernel (a LoCon with a Tucker middle weight?), which this runtime does not apply");
            }
            if (up.dim(1) != down.dim(0)) {
                throw new LoraException("LoRA " + file + ": '" + key + "' has rank " + down.dim(0) + " in its down weight but "
                        + up.dim(1) + " in its up weight");
            }
            out.add(new Pair(id[0], id[1], Boolean.parseBoolean(id[2]), key, down, up, alpha));
        }
        return new LoraFile(file, List.copyOf(out));
    }

    private static final int DOWN = 0, UP = 1, ALPHA = 2;

    private record Parsed(String component, String module, boolean kohya, int part) {}

    /** Kohya prefixes and their components: UNet, text encoder (SD 1.x/2.x), SDXL's first and second text encoders. */
    private static final String[][] KOHYA = {{"lora_unet_", "unet"}, {"lora_te_", "text_encoder"},
            {"lora_te1_", "text_encoder"}, {"lora_te2_", "text_encoder_2"}};

    /** Suffixes of the diffusers/PEFT layouts: the part, and what replaces the suffix in the module path. */
    private static final String[][] SUFFIXES = {
            {".lora_A.weight", "0", ""}, {".lora_B.weight", "1", ""},
            {".lora.down.weight", "0", ""}, {".lora.up.weight", "1", ""},
            {".lora_linear_layer.down.weight", "0", ""}, {".lora_linear_layer.up.weight", "1", ""},
            {".to_q_lora.down.weight", "0", ".to_q"}, {".to_q_lora.up.weight", "1", ".to_q"},
            {".to_k_lora.down.weight", "0", ".to_k"}, {".to_k_lora.up.weight", "1", ".to_k"},
            {".to_v_lora.down.weight", "0", ".to_v"}, {".to_v_lora.up.weight", "1", ".to_v"},
            {".to_out_lora.down.weight", "0", ".to_out.0"}, {".to_out_lora.up.weight", "1", ".to_out.0"},
            {".alpha", "2", ""}};

    private static Parsed parse(String key) {
        for (String[] k : KOHYA) {
            if (!key.startsWith(k[0])) continue;
            int dot = key.indexOf('.');
            if (dot < 0) return null;
            String module = key.substring(k[0].length(), dot);
            String rest = key.substring(dot);
            int part = switch (rest) {
                case ".lora_down.weight" -> DOWN;
                case ".lora_up.weight" -> UP;
                case ".alpha" -> ALPHA;
                default -> -1;
            };
            return part < 0 || module.isEmpty() ? null : new Parsed(k[1], module, true, part);
        }
        String component = "unet";
        String path = key;
        if (key.startsWith("unet.")) {
            path = key.substring("unet.".length());
        } else if (key.startsWith("text_encoder.")) {
            component = "text_encoder";
            path = key.substring("text_encoder.".length());
        } else if (key.startsWith("text_encoder_2.")) {
            component = "text_encoder_2";
            path = key.substring("text_encoder_2.".length());
        }
        path = path.replace(".processor.", ".");
        for (String[] s : SUFFIXES) {
            if (!path.endsWith(s[0])) continue;
            String module = path.substring(0, path.length() - s[0].length()) + s[2];
            if (component.startsWith("text_encoder")) module = textEncoderModule(module);
            return module.isEmpty() ? null : new Parsed(component, module, false, Integer.parseInt(s[1]));
        }
        return null;
    }

    /** The old diffusers text-encoder names ({@code self_attn.to_q_lora}) are transformers' {@code q_proj}, ... . */
    private static String textEncoderModule(String module) {
        return module.replace("self_attn.to_q", "self_attn.q_proj").replace("self_attn.to_k", "self_attn.k_proj")
                .replace("self_attn.to_v", "self_attn.v_proj").replace("self_attn.to_out.0", "self_attn.out_proj");
    }

    private static String unsupportedHint(String key) {
        String k = key.toLowerCase(Locale.ROOT);
        if (k.contains("hada_")) return " (a LyCORIS LoHa, which this runtime does not apply; only LoRA/LoCon)";
        if (k.contains("lokr_")) return " (a LyCORIS LoKr, which this runtime does not apply; only LoRA/LoCon)";
        if (k.contains("dora_scale")) return " (DoRA, which this runtime does not apply)";
        if (k.contains("lora_mid")) return " (a LoCon with a Tucker middle weight, which this runtime does not apply)";
        if (k.startsWith("model.diffusion_model.") || k.endsWith(".weight") && !k.contains("lora")) {
            return " (a model checkpoint rather than a LoRA?)";
        }
        return " (expected kohya lora_unet_/lora_te_/lora_te1_/lora_te2_ ... .lora_down/.lora_up/.alpha, or diffusers/PEFT"
                + " unet./text_encoder./text_encoder_2. ... .lora_A/.lora_B)";
    }
}
