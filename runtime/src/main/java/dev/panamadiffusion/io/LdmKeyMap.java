package dev.panamadiffusion.io;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * Where each diffusers tensor of a Stable Diffusion model lies in a checkpoint in the original CompVis/LDM layout:
 * the one place that knows both namings. Built from the structure {@link LdmLayout} read off the file's keys, following
 * diffusers 0.27.2's {@code convert_from_ckpt.py} (LDM → diffusers) and {@code convert_diffusers_to_original_stable_
 * diffusion.py} (the inverse), generalised from SD's 4 blocks × 2 layers to any count.
 *
 * <p>Every mapping is a view of one LDM tensor, never a copy: the tensor as it is, a range of its rows (OpenCLIP's fused
 * {@code attn.in_proj_weight} holds q, k and v one above the other), the same bytes without trailing 1 × 1
 * dimensions (the VAE's mid-block attention is stored as 1 × 1 convolutions, [C, C, 1, 1], where diffusers has linear
 * layers, [C, C]), or the tensor with its two dimensions swapped (SDXL's OpenCLIP {@code text_projection} is applied
 * as x @ P, [hidden, projection], where transformers' Linear holds P^T, [projection, hidden]: diffusers converts it with
 * {@code .T.contiguous()}; here it is a strided view, made contiguous by the backend's upload, which copies every
 * weight anyway to convert fp16 to the compute type or move it to the device).
 *
 * <p>SDXL base ({@link LdmLayout#sdxl()}): {@code label_emb.0.0}/{@code .0.2} are the UNet's
 * {@code add_embedding.linear_1}/{@code _2}, {@code conditioner.embedders.0.transformer.*} is {@code text_encoder}
 * (CLIP ViT-L, the same names), {@code conditioner.embedders.1.model.*} is {@code text_encoder_2} (OpenCLIP ViT-bigG,
 * every block, q/k/v fused, with {@code text_projection}), as diffusers 0.27.2's {@code convert_from_ckpt.py} reads
 * an SDXL file and {@code scripts/convert_diffusers_to_original_sdxl.py} writes one.
 */
public final class LdmKeyMap {
    /** How a diffusers tensor is seen in its LDM tensor. */
    public enum View { AS_IS, ROWS, SQUEEZE_1X1, TRANSPOSE }

    /**
     * One diffusers tensor: its component ({@code unet}, {@code vae}, {@code text_encoder}, {@code text_encoder_2}), its diffusers name, the
     * LDM key holding it and how; {@code rowStart}/{@code rowEnd} for {@link View#ROWS}. {@code optional} entries may
     * be absent from the file (a buffer such as CLIP's {@code position_ids}).
     */
    public record Entry(String component, String diffusersKey, String ldmKey, View view, long rowStart, long rowEnd,
                        boolean optional) {}

    private final List<Entry> entries = new ArrayList<>();

    private LdmKeyMap() {}

    public List<Entry> entries() { return Collections.unmodifiableList(entries); }

    /** The map for {@code layout}; which keys exist decides only optional entries (shortcuts, position_ids). */
    static LdmKeyMap of(LdmLayout layout, Map<String, long[]> shapes) {
        LdmKeyMap m = new LdmKeyMap();
        m.unet(layout, shapes);
        m.vae(layout, shapes);
        if (layout.openClip()) {
            m.openClip("text_encoder", LdmLayout.OPEN_CLIP, layout.textLayers(), layout.textHidden());
        } else if (!layout.refiner()) {   // the SDXL refiner has no first text encoder
            m.clip(layout, shapes);
        }
        if (layout.sdxl()) {
            LdmLayout.OpenClipTower t = layout.text2();
            m.openClip("text_encoder_2", t.prefix(), t.layers(), t.hidden());
            m.entries.add(new Entry("text_encoder_2", "text_projection.weight", t.prefix() + "text_projection", View.TRANSPOSE, 0, 0, false));
        }
        return m;
    }

    /**
     * The LDM name (without {@code model.diffusion_model.}) of every UNet tensor, by diffusers key, for a UNet of
     * {@code channels.length} levels of {@code layers} resnets each, with attention where {@code downAttention} /
     * {@code upAttention} say and {@code transformerDepth} blocks per transformer: how kohya LoRAs trained on an LDM
     * checkpoint name the UNet's layers ({@code lora_unet_input_blocks_1_1_proj_in}). Every resnet gets a shortcut
     * entry; the caller keeps those its model has.
     */
    public static Map<String, String> unetLdmNames(int[] channels, int layers, boolean[] downAttention, boolean[] upAttention,
                                                   int transformerDepth) {
        int[] depth = new int[channels.length];
        java.util.Arrays.fill(depth, transformerDepth);
        return unetLdmNames(channels, layers, downAttention, upAttention, depth);
    }

    /**
     * As {@link #unetLdmNames(int[], int, boolean[], boolean[], int)} with a transformer depth per level
     * ({@code transformer_layers_per_block}: down block i and up block {@code n - 1 - i} have {@code depth[i]} blocks
     * per transformer, the mid block {@code depth[n - 1]}), as SDXL's UNet has (1, 2, 10): how kohya names the layers
     * of a LoRA trained on SDXL ({@code lora_unet_input_blocks_4_1_transformer_blocks_1_attn1_to_q}).
     */
    public static Map<String, String> unetLdmNames(int[] channels, int layers, boolean[] downAttention, boolean[] upAttention,
                                                   int[] transformerDepth) {
        if (transformerDepth.length != channels.length) {
            throw new IllegalArgumentException("a transformer depth per level is needed: " + transformerDepth.length + " for "
                    + channels.length + " levels");
        }
        int[] depth = transformerDepth.clone();
        LdmLayout layout = new LdmLayout(false, LdmLayout.CLIP, channels.clone(), layers, downAttention.clone(),
                upAttention.clone(), depth, 4, 4, 0, false, 0, new int[0], 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, null);
        Map<String, long[]> everyShortcut = new java.util.AbstractMap<>() { // needsShortcut: no shapes, every shortcut "present"
            @Override public boolean containsKey(Object key) { return key instanceof String k && k.endsWith(".skip_connection.weight"); }
            @Override public long[] get(Object key) { return null; }
            @Override public java.util.Set<Entry<String, long[]>> entrySet() { return java.util.Set.of(); }
        };
        LdmKeyMap m = new LdmKeyMap();
        m.unet(layout, everyShortcut);
        Map<String, String> out = new java.util.LinkedHashMap<>();
        for (Entry e : m.entries) out.put(e.diffusersKey(), e.ldmKey().substring(LdmLayout.UNET.length()));
        return out;
    }

    private void add(String component, String hf, String ldm) {
        entries.add(new Entry(component, hf, ldm, View.AS_IS, 0, 0, false));
    }

    private void addWeightBias(String component, String hf, String ldm) {
        add(component, hf + ".weight", ldm + ".weight");
        add(component, hf + ".bias", ldm + ".bias");
    }

    // ---- UNet ---------------------------------------------------------------------------------------------------

    private static final String[][] UNET_RESNET = {
            {"norm1", "in_layers.0"}, {"conv1", "in_layers.2"}, {"time_emb_proj", "emb_layers.1"},
            {"norm2", "out_layers.0"}, {"conv2", "out_layers.3"}};

    private void unet(LdmLayout l, Map<String, long[]> shapes) {
        String p = LdmLayout.UNET;
        int n = l.unetChannels().length, layers = l.unetLayers();
        addWeightBias("unet", "time_embedding.linear_1", p + "time_embed.0");
        addWeightBias("unet", "time_embedding.linear_2", p + "time_embed.2");
        addWeightBias("unet", "conv_in", p + "input_blocks.0.0");
        addWeightBias("unet", "conv_norm_out", p + "out.0");
        addWeightBias("unet", "conv_out", p + "out.2");
        if (l.addEmbeddingIn() > 0) {   // SDXL's text_time embedding: LDM's label_emb (a "sequential" class embedding)
            addWeightBias("unet", "add_embedding.linear_1", p + "label_emb.0.0");
            addWeightBias("unet", "add_embedding.linear_2", p + "label_emb.0.2");
        }
        int[] depth = l.transformerDepth();
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < layers; j++) {
                int block = (layers + 1) * i + j + 1;
                unetResnet(shapes, "down_blocks." + i + ".resnets." + j, p + "input_blocks." + block + ".0");
                if (l.downAttention()[i]) {
                    transformer("down_blocks." + i + ".attentions." + j, p + "input_blocks." + block + ".1", depth[i]);
                }
            }
            if (i < n - 1) {
                addWeightBias("unet", "down_blocks." + i + ".downsamplers.0.conv", p + "input_blocks." + (layers + 1) * (i + 1) + ".0.op");
            }
        }
        unetResnet(shapes, "mid_block.resnets.0", p + "middle_block.0");
        transformer("mid_block.attentions.0", p + "middle_block.1", depth[n - 1]);
        unetResnet(shapes, "mid_block.resnets.1", p + "middle_block.2");
        for (int i = 0; i < n; i++) {
            boolean attention = l.upAttention()[i];
            for (int j = 0; j <= layers; j++) {
                int block = (layers + 1) * i + j;
                unetResnet(shapes, "up_blocks." + i + ".resnets." + j, p + "output_blocks." + block + ".0");
                if (attention) transformer("up_blocks." + i + ".attentions." + j, p + "output_blocks." + block + ".1", depth[n - 1 - i]);
            }
            if (i < n - 1) {
                addWeightBias("unet", "up_blocks." + i + ".upsamplers.0.conv",
                        p + "output_blocks." + ((layers + 1) * i + layers) + "." + (attention ? 2 : 1) + ".conv");
            }
        }
    }

    private void unetResnet(Map<String, long[]> shapes, String hf, String ldm) {
        for (String[] r : UNET_RESNET) addWeightBias("unet", hf + "." + r[0], ldm + "." + r[1]);
        if (needsShortcut(shapes, ldm + ".in_layers.2.weight", ldm + ".out_layers.3.weight", ldm + ".skip_connection.weight")) {
            addWeightBias("unet", hf + ".conv_shortcut", ldm + ".skip_connection");
        }
    }

    /**
     * A resnet whose input and output widths differ has a 1 × 1 shortcut; when its convolutions are missing (reported
     * as missing anyway), the file's own shortcut decides.
     */
    private static boolean needsShortcut(Map<String, long[]> shapes, String conv1, String conv2, String shortcut) {
        long[] c1 = shapes.get(conv1), c2 = shapes.get(conv2);
        if (c1 == null || c2 == null || c1.length < 2 || c2.length < 1) return shapes.containsKey(shortcut);
        return c1[1] != c2[0];
    }

    /** A SpatialTransformer / Transformer2DModel: the same leaf names on both sides. */
    private void transformer(String hf, String ldm, int depth) {
        for (String s : List.of("norm", "proj_in", "proj_out")) addWeightBias("unet", hf + "." + s, ldm + "." + s);
        for (int k = 0; k < depth; k++) {
            String b = ".transformer_blocks." + k + ".";
            for (String s : List.of("norm1", "norm2", "norm3", "attn1.to_out.0", "attn2.to_out.0", "ff.net.0.proj", "ff.net.2")) {
                addWeightBias("unet", hf + b + s, ldm + b + s);
            }
            for (String a : List.of("attn1", "attn2")) {
                for (String q : List.of("to_q", "to_k", "to_v")) add("unet", hf + b + a + "." + q + ".weight", ldm + b + a + "." + q + ".weight");
            }
        }
    }

    // ---- VAE ----------------------------------------------------------------------------------------------------

    private void vae(LdmLayout l, Map<String, long[]> shapes) {
        String p = LdmLayout.VAE;
        int n = l.vaeBlocks(), layers = l.vaeLayers();
        for (String part : List.of("encoder", "decoder")) {
            addWeightBias("vae", part + ".conv_in", p + part + ".conv_in");
            addWeightBias("vae", part + ".conv_out", p + part + ".conv_out");
            addWeightBias("vae", part + ".conv_norm_out", p + part + ".norm_out");
            vaeResnet(shapes, part + ".mid_block.resnets.0", p + part + ".mid.block_1");
            vaeResnet(shapes, part + ".mid_block.resnets.1", p + part + ".mid.block_2");
            String hf = part + ".mid_block.attentions.0.", ldm = p + part + ".mid.attn_1.";
            addWeightBias("vae", hf + "group_norm", ldm + "norm");
            for (String[] a : new String[][] {{"to_q", "q"}, {"to_k", "k"}, {"to_v", "v"}, {"to_out.0", "proj_out"}}) {
                entries.add(new Entry("vae", hf + a[0] + ".weight", ldm + a[1] + ".weight", View.SQUEEZE_1X1, 0, 0, false));
                add("vae", hf + a[0] + ".bias", ldm + a[1] + ".bias");
            }
        }
        addWeightBias("vae", "quant_conv", p + "quant_conv");
        addWeightBias("vae", "post_quant_conv", p + "post_quant_conv");
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < layers; j++) {
                vaeResnet(shapes, "encoder.down_blocks." + i + ".resnets." + j, p + "encoder.down." + i + ".block." + j);
            }
            for (int j = 0; j <= layers; j++) {
                vaeResnet(shapes, "decoder.up_blocks." + i + ".resnets." + j, p + "decoder.up." + (n - 1 - i) + ".block." + j);
            }
            if (i < n - 1) {
                addWeightBias("vae", "encoder.down_blocks." + i + ".downsamplers.0.conv", p + "encoder.down." + i + ".downsample.conv");
                addWeightBias("vae", "decoder.up_blocks." + i + ".upsamplers.0.conv", p + "decoder.up." + (n - 1 - i) + ".upsample.conv");
            }
        }
    }

    private void vaeResnet(Map<String, long[]> shapes, String hf, String ldm) {
        for (String s : List.of("norm1", "conv1", "norm2", "conv2")) addWeightBias("vae", hf + "." + s, ldm + "." + s);
        if (needsShortcut(shapes, ldm + ".conv1.weight", ldm + ".conv2.weight", ldm + ".nin_shortcut.weight")) {
            addWeightBias("vae", hf + ".conv_shortcut", ldm + ".nin_shortcut");
        }
    }

    // ---- text encoders ------------------------------------------------------------------------------------------

    /**
     * SD 1.x and SDXL's first encoder: Hugging Face's CLIPTextModel under {@code cond_stage_model.transformer.} or
     * {@code conditioner.embedders.0.transformer.}: the same names.
     */
    private void clip(LdmLayout l, Map<String, long[]> shapes) {
        String p = l.clipPrefix();
        String e = "text_model.embeddings.";
        add("text_encoder", e + "token_embedding.weight", p + "embeddings.token_embedding.weight");
        add("text_encoder", e + "position_embedding.weight", p + "embeddings.position_embedding.weight");
        if (shapes.containsKey(p + "embeddings.position_ids")) {
            entries.add(new Entry("text_encoder", e + "position_ids", p + "embeddings.position_ids", View.AS_IS, 0, 0, true));
        }
        for (int i = 0; i < l.textLayers(); i++) {
            String layer = "encoder.layers." + i + ".";
            for (String s : List.of("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj",
                    "layer_norm1", "mlp.fc1", "mlp.fc2", "layer_norm2")) {
                addWeightBias("text_encoder", "text_model." + layer + s, p + layer + s);
            }
        }
        addWeightBias("text_encoder", "text_model.final_layer_norm", p + "final_layer_norm");
    }

    /**
     * An OpenCLIP text tower under {@code p}, q/k/v fused: SD 2.x's ViT-H/14 ({@code cond_stage_model.model.}, the
     * {@code layers} blocks it uses) or SDXL's ViT-bigG ({@code conditioner.embedders.1.model.}, every block).
     */
    private void openClip(String component, String p, int layers, long d) {
        add(component, "text_model.embeddings.token_embedding.weight", p + "token_embedding.weight");
        add(component, "text_model.embeddings.position_embedding.weight", p + "positional_embedding");
        for (int i = 0; i < layers; i++) {
            String hf = "text_model.encoder.layers." + i + ".", ldm = p + "transformer.resblocks." + i + ".";
            addWeightBias(component, hf + "layer_norm1", ldm + "ln_1");
            addWeightBias(component, hf + "layer_norm2", ldm + "ln_2");
            addWeightBias(component, hf + "mlp.fc1", ldm + "mlp.c_fc");
            addWeightBias(component, hf + "mlp.fc2", ldm + "mlp.c_proj");
            addWeightBias(component, hf + "self_attn.out_proj", ldm + "attn.out_proj");
            String[] qkv = {"q_proj", "k_proj", "v_proj"};
            for (int k = 0; k < 3; k++) {
                for (String s : List.of("weight", "bias")) {
                    entries.add(new Entry(component, hf + "self_attn." + qkv[k] + "." + s, ldm + "attn.in_proj_" + s,
                            View.ROWS, k * d, (k + 1) * d, false));
                }
            }
        }
        addWeightBias(component, "text_model.final_layer_norm", p + "ln_final");
    }
}
