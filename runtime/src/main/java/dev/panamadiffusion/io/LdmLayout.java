package dev.panamadiffusion.io;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The structure of a Stable Diffusion checkpoint in the original CompVis/LDM layout, read off its tensor names and
 * shapes alone (no config file needed): the family (SD 1.x with CLIP ViT-L, SD 2.x with OpenCLIP ViT-H, SDXL base with
 * both CLIP ViT-L and OpenCLIP ViT-bigG, the SDXL refiner with OpenCLIP ViT-bigG alone), the UNet's widths, layers per block, which levels have attention and how deep
 * their transformers are, its input channels (9 for inpainting), SDXL's added embedding, the VAE's and the text
 * encoders' sizes. What shapes cannot say (attention heads, v-prediction) {@link LdmCheckpoint} takes from the family's
 * conventions or an LDM config beside the file.
 *
 * @param clipPrefix       where the first text encoder's Hugging Face CLIP keys start (SD 1.x and SDXL's embedders.0);
 *                         null for the SDXL refiner, which has no first text encoder (its text fields are then 0)
 * @param transformerDepth transformer blocks per level, in down-block order (levels without attention: the mid
 *                         block's for the last level, else 1, as diffusers' configs write them)
 * @param addEmbeddingIn   SDXL: the input width of the added embedding ({@code label_emb.0.0}: 6 time ids (the
 *                         refiner: 5) × addition_time_embed_dim + text_encoder_2's projection); 0 without one
 * @param textBlocksInFile OpenCLIP residual blocks in the file; SD 2.x conditions on the penultimate one, so a file
 *                         with {@code text_projection} (a full OpenCLIP tower) has one block more than {@code textLayers}
 * @param text2            SDXL's second text encoder (OpenCLIP ViT-bigG, every block, with its projection; the refiner's
 *                         only one, under {@code conditioner.embedders.0.model.}), else null
 */
record LdmLayout(boolean openClip, String clipPrefix, int[] unetChannels, int unetLayers, boolean[] downAttention,
                 boolean[] upAttention, int[] transformerDepth, int unetIn, int unetOut, int crossAttentionDim,
                 boolean linearProjection, int addEmbeddingIn, int[] vaeChannels, int vaeLayers, int vaeIn, int vaeOut,
                 int latentChannels, int textVocab, int textHidden, int textIntermediate, int textPositions,
                 int textLayers, int textBlocksInFile, OpenClipTower text2) {
    static final String UNET = "model.diffusion_model.";
    static final String VAE = "first_stage_model.";
    static final String CLIP = "cond_stage_model.transformer.";
    static final String OPEN_CLIP = "cond_stage_model.model.";
    static final String SDXL = "conditioner.embedders.";
    /** SDXL's first text encoder: CLIP ViT-L in Hugging Face names, as SD 1.x's. */
    static final String SDXL_CLIP = SDXL + "0.transformer.";
    /** SDXL's second text encoder: OpenCLIP ViT-bigG's text tower, q/k/v fused, with {@code text_projection}. */
    static final String SDXL_OPEN_CLIP = SDXL + "1.model.";
    /** The SDXL refiner's one text encoder: the same OpenCLIP ViT-bigG tower as the first embedder. */
    static final String REFINER_OPEN_CLIP = SDXL + "0.model.";
    /** Most blocks, layers and widths accepted from a file (as the diffusers config readers bound them). */
    private static final int MAX_COUNT = 64;

    /**
     * An OpenCLIP text tower used whole (SDXL's text_encoder_2, a CLIPTextModelWithProjection): {@code layers}
     * residual blocks and {@code text_projection} [hidden, projection] (x @ P, the transpose of transformers' weight).
     */
    record OpenClipTower(String prefix, int vocab, int hidden, int intermediate, int positions, int layers, int projection) {}

    int vaeBlocks() { return vaeChannels.length; }

    boolean inpainting() { return unetIn == 9; }

    boolean sdxl() { return text2 != null; }

    /** The SDXL refiner: text_encoder_2 alone, 5 time ids (original size, crop, aesthetic score). */
    boolean refiner() { return sdxl() && clipPrefix == null; }

    /** "SD 1.x", "SD 2.x inpainting", "SDXL", "SDXL refiner", ... */
    String family() {
        return (refiner() ? "SDXL refiner" : sdxl() ? "SDXL" : openClip ? "SD 2.x" : "SD 1.x") + (inpainting() ? " inpainting" : "");
    }

    /** Reads the structure from {@code shapes} (full LDM keys); a layout it does not know is a {@link CheckpointException}. */
    static LdmLayout read(Path file, Map<String, long[]> shapes) {
        Reader r = new Reader(file, shapes);
        boolean sdxl = r.any(SDXL);
        boolean refiner = sdxl && sdxlEmbedders(r);
        if (!r.any(UNET)) {
            String hint = shapes.containsKey("conv_in.weight") || shapes.containsKey("encoder.conv_in.weight")
                    || shapes.containsKey("text_model.embeddings.token_embedding.weight")
                    ? " (it looks like one diffusers component's weights: pass the diffusers model folder instead)" : "";
            throw new CheckpointException(file, "is not a Stable Diffusion checkpoint in the original (LDM) layout: no "
                    + UNET + "* tensors" + hint + "; its first tensors are " + r.first(3));
        }
        if (!r.any(VAE)) throw new CheckpointException(file, "has no VAE (" + VAE + "* tensors): a UNet-only file? This runtime needs the whole checkpoint");
        boolean openClip = !sdxl && r.any(OPEN_CLIP);
        if (!sdxl && !openClip && !r.any(CLIP)) {
            throw new CheckpointException(file, "has no text encoder (" + CLIP + "* for SD 1.x or " + OPEN_CLIP
                    + "* for SD 2.x): an unknown layout");
        }
        String clip = sdxl ? SDXL_CLIP : CLIP;
        String clipPrefix = refiner ? null : r.any(clip + "text_model.") ? clip + "text_model." : clip;

        // UNet: input_blocks.0 is conv_in; each level has L resnet blocks, all but the last level a downsampler
        int inputBlocks = r.count(UNET + "input_blocks.");
        int layers = inputBlocks - 1;
        for (int i = 1; i < inputBlocks; i++) {
            if (r.has(UNET + "input_blocks." + i + ".0.op.weight")) {
                layers = i - 1;
                break;
            }
        }
        if (layers < 1 || inputBlocks % (layers + 1) != 0) {
            throw new CheckpointException(file, "has " + inputBlocks + " UNet input blocks with a downsampler after "
                    + layers + ": not a Stable Diffusion UNet layout");
        }
        int n = r.bounded("UNet levels", inputBlocks / (layers + 1));
        int[] channels = new int[n];
        boolean[] down = new boolean[n], up = new boolean[n];
        for (int i = 0; i < n; i++) {
            channels[i] = r.dim(UNET + "input_blocks." + ((layers + 1) * i + 1) + ".0.out_layers.3.weight", 0);
            down[i] = r.any(UNET + "input_blocks." + ((layers + 1) * i + 1) + ".1.");
            up[i] = r.any(UNET + "output_blocks." + ((layers + 1) * i) + ".1.transformer_blocks.");
        }
        String mid = UNET + "middle_block.1.";
        int midDepth = r.bounded("transformer blocks", r.count(mid + "transformer_blocks."));
        int[] depth = new int[n];
        for (int i = 0; i < n; i++) {   // up block n-1-i mirrors level i (diffusers reverses the list for the up blocks)
            String block = down[i] ? UNET + "input_blocks." + ((layers + 1) * i + 1) + ".1."
                    : up[n - 1 - i] ? UNET + "output_blocks." + ((layers + 1) * (n - 1 - i)) + ".1." : null;
            depth[i] = block != null ? r.bounded("transformer blocks", r.count(block + "transformer_blocks."))
                    : i == n - 1 ? midDepth : 1;
        }
        if (depth[n - 1] != midDepth) {
            throw new CheckpointException(file, "has " + midDepth + " transformer blocks in the UNet's middle block but "
                    + depth[n - 1] + " in its last level: not a layout diffusers' UNet2DConditionModel describes");
        }
        long[] projIn = r.shape(mid + "proj_in.weight");
        int cross = r.dim(mid + "transformer_blocks.0.attn2.to_k.weight", 1);
        int addIn = sdxl ? r.dim(UNET + "label_emb.0.0.weight", 1) : 0;

        // VAE: encoder.down.i.block.j; the decoder mirrors it with one resnet more per level
        int vaeLevels = r.bounded("VAE levels", r.count(VAE + "encoder.down."));
        int[] vaeChannels = new int[vaeLevels];
        for (int i = 0; i < vaeLevels; i++) vaeChannels[i] = r.dim(VAE + "encoder.down." + i + ".block.0.conv2.weight", 0);
        int vaeLayers = r.bounded("VAE layers", r.count(VAE + "encoder.down.0.block."));

        int vocab, hidden, intermediate, positions, textLayers, blocks;
        if (openClip) {
            vocab = r.dim(OPEN_CLIP + "token_embedding.weight", 0);
            hidden = r.dim(OPEN_CLIP + "token_embedding.weight", 1);
            positions = r.dim(OPEN_CLIP + "positional_embedding", 0);
            intermediate = r.dim(OPEN_CLIP + "transformer.resblocks.0.mlp.c_fc.weight", 0);
            blocks = r.bounded("text encoder layers", r.count(OPEN_CLIP + "transformer.resblocks."));
            // SD 2.x conditions on OpenCLIP's penultimate layer: a full tower (with text_projection) has one block
            // more than the text encoder uses; a file converted from diffusers has only the blocks it uses
            textLayers = r.has(OPEN_CLIP + "text_projection") ? blocks - 1 : blocks;
            if (textLayers < 1) throw new CheckpointException(file, "has an OpenCLIP text encoder with " + blocks + " blocks: too few for SD 2.x");
        } else if (refiner) {   // no first text encoder
            vocab = hidden = intermediate = positions = textLayers = blocks = 0;
        } else {
            vocab = r.dim(clipPrefix + "embeddings.token_embedding.weight", 0);
            hidden = r.dim(clipPrefix + "embeddings.token_embedding.weight", 1);
            positions = r.dim(clipPrefix + "embeddings.position_embedding.weight", 0);
            intermediate = r.dim(clipPrefix + "encoder.layers.0.mlp.fc1.weight", 0);
            textLayers = blocks = r.bounded("text encoder layers", r.count(clipPrefix + "encoder.layers."));
        }
        // SDXL's text_encoder_2 is OpenCLIP used whole (CLIPTextModelWithProjection): every block, and the projection;
        // the refiner's is the same tower as its first (only) embedder
        OpenClipTower text2 = null;
        if (sdxl) {
            String p = refiner ? REFINER_OPEN_CLIP : SDXL_OPEN_CLIP;
            text2 = new OpenClipTower(p, r.dim(p + "token_embedding.weight", 0), r.dim(p + "token_embedding.weight", 1),
                    r.dim(p + "transformer.resblocks.0.mlp.c_fc.weight", 0), r.dim(p + "positional_embedding", 0),
                    r.bounded("text encoder 2 layers", r.count(p + "transformer.resblocks.")), r.dim(p + "text_projection", 1));
            if (r.dim(p + "text_projection", 0) != text2.hidden()) {
                throw new CheckpointException(file, "tensor " + p + "text_projection has shape " + Arrays.toString(r.shape(p + "text_projection"))
                        + " but the OpenCLIP tower is " + text2.hidden() + " wide (expected [" + text2.hidden() + ", projection])");
            }
        }
        return new LdmLayout(openClip, clipPrefix, channels, layers, down, up, depth,
                r.dim(UNET + "input_blocks.0.0.weight", 1), r.dim(UNET + "out.2.weight", 0), cross, projIn.length == 2, addIn,
                vaeChannels, vaeLayers, r.dim(VAE + "encoder.conv_in.weight", 1), r.dim(VAE + "decoder.conv_out.weight", 0),
                r.dim(VAE + "decoder.conv_in.weight", 1), vocab, hidden, intermediate, positions, textLayers, blocks, text2);
    }

    /**
     * SDXL base conditions on two embedders: CLIP ViT-L ({@code embedders.0.transformer}) and OpenCLIP ViT-bigG
     * ({@code embedders.1.model}); the refiner on OpenCLIP ViT-bigG alone, as {@code embedders.0.model} (true). A file
     * missing one of base's, or with embedders of both kinds, is refused, naming what is there.
     */
    private static boolean sdxlEmbedders(Reader r) {
        boolean clip = r.any(SDXL_CLIP), open = r.any(SDXL_OPEN_CLIP);
        if (!clip && r.any(REFINER_OPEN_CLIP)) {
            if (r.any(SDXL + "1.")) {
                throw new CheckpointException(r.file(), "has an SDXL refiner's text encoder (" + REFINER_OPEN_CLIP + "*) and a"
                        + " second embedder (" + SDXL + "1.*): neither SDXL base's layout nor the refiner's");
            }
            return true;
        }
        if (!clip || !open) {
            throw new CheckpointException(r.file(), "is an incomplete Stable Diffusion XL checkpoint: SDXL base has two text"
                    + " encoders, but there are no " + (clip ? SDXL_OPEN_CLIP + "* (OpenCLIP ViT-bigG)" : SDXL_CLIP + "* (CLIP ViT-L)")
                    + " tensors");
        }
        return false;
    }

    /**
     * Why a tensor of the file is not part of the model, or null when it should be: the LDM training wrapper's buffers
     * and EMA copies (outside the three components), and the parts of OpenCLIP that SD 2.x does not use.
     */
    String ignoredBecause(String key) {
        String text = sdxl() ? SDXL : "cond_stage_model.";
        if (!key.startsWith(UNET) && !key.startsWith(VAE) && !key.startsWith(text)) {
            return "not part of the UNet, VAE or text encoder (training state such as betas, alphas_cumprod, model_ema.*)";
        }
        if (sdxl() && key.equals(text2.prefix() + "logit_scale")) {
            return "OpenCLIP's contrastive temperature (SDXL uses the projected pooled output, not the logits)";
        }
        if (openClip && key.startsWith(OPEN_CLIP)) {
            String rest = key.substring(OPEN_CLIP.length());
            if (rest.equals("text_projection") || rest.equals("logit_scale")) return "OpenCLIP's contrastive head (SD 2.x uses the hidden states)";
            Matcher m = RESBLOCK.matcher(rest);
            if (m.lookingAt() && Integer.parseInt(m.group(1)) >= textLayers) return "OpenCLIP's last layer (SD 2.x conditions on the penultimate one)";
        }
        return null;
    }

    private static final Pattern RESBLOCK = Pattern.compile("transformer\\.resblocks\\.([0-9]{1,4})\\.");

    @Override
    public String toString() {
        return family() + ": UNet " + Arrays.toString(unetChannels) + " x" + unetLayers + ", VAE " + Arrays.toString(vaeChannels)
                + (refiner() ? "" : ", text encoder " + textLayers + " x " + textHidden)
                + (sdxl() ? ", text encoder 2 " + text2.layers() + " x " + text2.hidden() : "");
    }

    /** Counts and shapes from the key map, each problem a {@link CheckpointException} naming the tensor. */
    private record Reader(Path file, Map<String, long[]> shapes) {
        boolean has(String key) { return shapes.containsKey(key); }

        boolean any(String prefix) {
            for (String k : shapes.keySet()) if (k.startsWith(prefix)) return true;
            return false;
        }

        /** The number of sub-modules {@code prefix0.}, {@code prefix1.}, …, which must be numbered without gaps. */
        int count(String prefix) {
            TreeSet<Integer> seen = new TreeSet<>();
            for (String k : shapes.keySet()) {
                if (!k.startsWith(prefix)) continue;
                int dot = k.indexOf('.', prefix.length());
                String idx = dot < 0 ? "" : k.substring(prefix.length(), dot);
                if (idx.isEmpty() || idx.length() > 4 || !idx.chars().allMatch(Character::isDigit)) continue;
                seen.add(Integer.parseInt(idx));
            }
            if (!seen.isEmpty() && seen.last() != seen.size() - 1) {
                int gap = 0;
                while (seen.contains(gap)) gap++;
                throw new CheckpointException(file, "has " + prefix + seen.last() + ".* but no " + prefix + gap
                        + ".* tensors (an incomplete or damaged file)");
            }
            return seen.size();
        }

        long[] shape(String key) {
            long[] s = shapes.get(key);
            if (s == null) throw new CheckpointException(file, "has no tensor " + key + " (an incomplete file or an unknown layout)");
            return s;
        }

        int dim(String key, int axis) {
            long[] s = shape(key);
            if (axis >= s.length || s[axis] < 1 || s[axis] > 1 << 20) {
                throw new CheckpointException(file, "tensor " + key + " has shape " + Arrays.toString(s) + ": not what a Stable Diffusion model holds");
            }
            return (int) s[axis];
        }

        int bounded(String what, int v) {
            if (v < 1 || v > MAX_COUNT) throw new CheckpointException(file, "has " + v + " " + what + ": not a Stable Diffusion layout");
            return v;
        }

        List<String> first(int k) { return new TreeSet<>(shapes.keySet()).stream().limit(k).toList(); }
    }
}
