package dev.panamadiffusion.models.unet;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.io.ModelFolder;
import dev.panamadiffusion.nn.Conv2d;
import dev.panamadiffusion.nn.GroupNorm;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.weights.Param;
import dev.panamadiffusion.weights.Weights;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * diffusers' {@code UNet2DConditionModel} for Stable Diffusion 1.x, 2.x and XL (SDXL's {@code text_time}:
 * {@code add_time_proj} and {@code add_embedding}, added to the time embedding): predicts the noise (or v) in a latent
 * sample at given timesteps, conditioned on text encoder hidden states. Module and field names follow diffusers, so
 * the weight keys of a diffusers {@code unet/} folder bind 1:1 ({@code conv_in}, {@code time_embedding},
 * {@code down_blocks.i}, {@code mid_block}, {@code up_blocks.i}, {@code conv_norm_out}, {@code conv_out}).
 */
public final class UNet2DConditionModel {
    private final UNet2DConditionConfig config;
    private final Backend backend;
    private final Timesteps timeProj;
    private final TimestepEmbedding timeEmbedding;
    private final Timesteps addTimeProj;          // SDXL's text_time: null otherwise
    private final TimestepEmbedding addEmbedding; // SDXL's text_time: null otherwise
    private final Conv2d convIn;
    private final List<UNetDownBlock> downBlocks = new ArrayList<>();
    private final UNetMidBlock2DCrossAttn midBlock;
    private final List<UNetUpBlock> upBlocks = new ArrayList<>();
    private final GroupNorm convNormOut;
    private final Conv2d convOut;
    private final Map<String, Param> params; // swappable weights by diffusers key (LoRA)

    /**
     * Loads {@code componentDir} ({@code config.json} and safetensors weights, mapped into {@code arena}, which must
     * stay open while the model is used). Every weight key is checked: missing, mis-shaped or unexpected keys fail
     * with a {@link dev.panamadiffusion.weights.WeightBindingException} listing them.
     */
    public static UNet2DConditionModel load(Path componentDir, Backend backend, Arena arena) {
        Path configFile = componentDir.resolve("config.json");
        UNet2DConditionConfig config = UNet2DConditionConfig.read(configFile);
        return Weights.load(componentDir, backend, arena, "UNet2DConditionModel", weights -> config.checkWeights(configFile, weights),
                w -> new UNet2DConditionModel(config, w));
    }

    /**
     * Loads component {@code component} of {@code model} (a diffusers folder, or a single-file checkpoint presented
     * under diffusers names), as {@link #load(Path, Backend, Arena)} does a folder.
     */
    public static UNet2DConditionModel load(ModelFolder model, String component, Backend backend, Arena arena) {
        Path configFile = model.configFile(component);
        UNet2DConditionConfig config = UNet2DConditionConfig.read(configFile, model.config(component));
        return Weights.load(model, component, backend, arena, "UNet2DConditionModel", weights -> config.checkWeights(configFile, weights),
                w -> new UNet2DConditionModel(config, w));
    }

    /**
     * The linear and convolution weights by diffusers key ({@code down_blocks.0.attentions.0.proj_in.weight}), each
     * swappable after loading: what a LoRA patches ({@link dev.panamadiffusion.lora.LoraPatcher}).
     */
    public Map<String, Param> params() { return params; }

    /** Binds the model's weights from {@code w}; call {@link Weights#finish()} afterwards to verify the binding. */
    public UNet2DConditionModel(UNet2DConditionConfig config, Weights w) {
        config.validate();
        this.config = config;
        this.backend = w.backend();
        this.params = w.params();
        int[] channels = config.blockOutChannels();
        int n = config.numBlocks();
        int c0 = channels[0];
        float eps = (float) config.normEps();

        this.convIn = new Conv2d(w.pp("conv_in"), config.inChannels(), c0, config.convInKernel(), 1, (config.convInKernel() - 1) / 2);
        this.timeProj = new Timesteps(c0, config.flipSinToCos(), config.freqShift());
        this.timeEmbedding = new TimestepEmbedding(w.pp("time_embedding"), c0, config.timeEmbedDim(), config.timeCondProjDim());
        if (config.hasTextTime()) {
            this.addTimeProj = new Timesteps(config.additionTimeEmbedDim(), config.flipSinToCos(), config.freqShift());
            this.addEmbedding = new TimestepEmbedding(w.pp("add_embedding"), config.projectionClassEmbeddingsInputDim(),
                    config.timeEmbedDim());
        } else {
            this.addTimeProj = null;
            this.addEmbedding = null;
        }

        int out = c0;
        for (int i = 0; i < n; i++) {
            int in = out;
            out = channels[i];
            boolean last = i == n - 1;
            Weights b = w.pp("down_blocks").pp(i);
            downBlocks.add(switch (config.downBlockTypes()[i]) {
                case "CrossAttnDownBlock2D" -> new CrossAttnDownBlock2D(b, config, i, in, out, !last);
                case "DownBlock2D" -> new DownBlock2D(b, config, i, in, out, !last);
                default -> throw new IllegalArgumentException("unsupported down block " + config.downBlockTypes()[i]);
            });
        }

        this.midBlock = new UNetMidBlock2DCrossAttn(w.pp("mid_block"), config);

        out = channels[n - 1];
        for (int i = 0; i < n; i++) {
            int prevOut = out;
            out = channels[n - 1 - i];
            int in = channels[Math.max(n - 2 - i, 0)];
            boolean last = i == n - 1;
            Weights b = w.pp("up_blocks").pp(i);
            upBlocks.add(switch (config.upBlockTypes()[i]) {
                case "CrossAttnUpBlock2D" -> new CrossAttnUpBlock2D(b, config, i, prevOut, in, out, !last);
                case "UpBlock2D" -> new UpBlock2D(b, config, i, prevOut, in, out, !last);
                default -> throw new IllegalArgumentException("unsupported up block " + config.upBlockTypes()[i]);
            });
        }

        this.convNormOut = new GroupNorm(w.pp("conv_norm_out"), config.normNumGroups(), c0, eps);
        this.convOut = new Conv2d(w.pp("conv_out"), c0, config.outChannels(), config.convOutKernel(), 1, (config.convOutKernel() - 1) / 2);
    }

    public UNet2DConditionConfig config() { return config; }

    /** {@link #forward(Tensor, double[], Tensor)} with the same timestep for every batch row (diffusers' scalar case). */
    public Tensor forward(Tensor sample, double timestep, Tensor encoderHiddenStates) {
        double[] t = new double[Math.toIntExact(sample.dim(0))];
        Arrays.fill(t, timestep);
        return forward(sample, t, encoderHiddenStates);
    }

    /**
     * The model output for sample [B, in_channels, h, w] at {@code timesteps} (one per batch row), conditioned on
     * encoderHiddenStates [B, L, cross_attention_dim]; both on this model's backend. Returns [B, out_channels, h, w].
     * h and w must be multiples of 2^(blocks − 1) (8 for SD), as diffusers' upsampling by exactly 2 requires.
     */
    public Tensor forward(Tensor sample, double[] timesteps, Tensor encoderHiddenStates) {
        return forward(sample, timesteps, null, encoderHiddenStates, NO_CHECKPOINT);
    }

    /**
     * {@link #forward(Tensor, double[], Tensor)} calling {@code checkpoint} between blocks (after {@code conv_in}, each
     * down block, the mid block and each up block), so that a caller can abandon the pass by throwing from it (the
     * cancellation of a request at any size, on a backend whose ops run as they are called).
     */
    public Tensor forward(Tensor sample, double[] timesteps, Tensor encoderHiddenStates, Runnable checkpoint) {
        return forward(sample, timesteps, null, encoderHiddenStates, checkpoint);
    }

    /**
     * {@link #forward(Tensor, double[], Tensor)} with diffusers' {@code timestep_cond}: host [B, time_cond_proj_dim]
     * (the {@link #guidanceEmbedding} of LCM-distilled models), or null for none (then {@code cond_proj} is skipped,
     * as in diffusers).
     */
    public Tensor forward(Tensor sample, double[] timesteps, Tensor timestepCond, Tensor encoderHiddenStates) {
        return forward(sample, timesteps, timestepCond, encoderHiddenStates, NO_CHECKPOINT);
    }

    /** Both of the above: a timestep condition (or null) and a checkpoint between blocks. */
    public Tensor forward(Tensor sample, double[] timesteps, Tensor timestepCond, Tensor encoderHiddenStates,
                          Runnable checkpoint) {
        return forward(sample, timesteps, timestepCond, null, encoderHiddenStates, checkpoint);
    }

    /**
     * The full form: a timestep condition (or null), SDXL's added conditioning {@code addEmbeds} (host
     * [B, projection_class_embeddings_input_dim] from {@link #addEmbeds}; required exactly when the config has
     * {@code addition_embed_type "text_time"}, else null) and a checkpoint between blocks.
     */
    public Tensor forward(Tensor sample, double[] timesteps, Tensor timestepCond, Tensor addEmbeds,
                          Tensor encoderHiddenStates, Runnable checkpoint) {
        checkInputs(sample, encoderHiddenStates);
        if (timesteps.length != sample.dim(0)) {
            throw new IllegalArgumentException("UNet: " + timesteps.length + " timesteps for a batch of " + sample.dim(0));
        }
        return forwardProjected(sample, conditionedTimeProjection(timesteps, timestepCond), addedEmbedding(addEmbeds),
                encoderHiddenStates, checkpoint);
    }

    /**
     * diffusers' input of {@code add_embedding} for {@code addition_embed_type "text_time"} (SDXL):
     * {@code concat(text_embeds, add_time_proj(time_ids.flatten()).reshape(B, -1))}. {@code textEmbeds} host
     * [B, text width] (text_encoder_2's projected pooled output), {@code timeIds} host [B, n]: SDXL base's 6 (original
     * size, crop top left, target size) or the refiner's 5 (original size, crop top left, aesthetic score); the text
     * width and n must fill {@code projection_class_embeddings_input_dim} ({@link UNet2DConditionConfig#textEmbedsDim(int)})
     * → host f32 [B, projection_class_embeddings_input_dim].
     */
    public Tensor addEmbeds(Tensor textEmbeds, Tensor timeIds) {
        if (addTimeProj == null) throw new IllegalStateException("this UNet has no text_time added conditioning");
        int ids = timeIds.rank() == 2 ? Math.toIntExact(timeIds.dim(1)) : UNet2DConditionConfig.TIME_IDS;
        int text = config.textEmbedsDim(ids);
        int timeDim = config.additionTimeEmbedDim();
        if (textEmbeds.rank() != 2 || textEmbeds.dim(1) != text || timeIds.rank() != 2 || text < 1
                || timeIds.dim(0) != textEmbeds.dim(0)) {
            throw new IllegalArgumentException("UNet text_time conditioning needs text_embeds [B, P] and time_ids [B, n] with"
                    + " P + n × " + timeDim + " = " + config.projectionClassEmbeddingsInputDim()
                    + " (projection_class_embeddings_input_dim), got " + textEmbeds + " and " + timeIds);
        }
        int batch = Math.toIntExact(textEmbeds.dim(0));
        int width = config.projectionClassEmbeddingsInputDim();
        double[] flat = new double[batch * ids];
        for (int i = 0; i < flat.length; i++) flat[i] = timeIds.getDouble(i);
        float[] timeEmb = addTimeProj.embed(flat).toFloatArray();                  // [B * n, timeDim]
        float[] textF = textEmbeds.to(dev.panamadiffusion.tensor.DType.F32).contiguous().toFloatArray(); // [B, text]
        float[] out = new float[batch * width];
        for (int b = 0; b < batch; b++) {
            System.arraycopy(textF, b * text, out, b * width, text);
            System.arraycopy(timeEmb, b * ids * timeDim, out, b * width + text, ids * timeDim);
        }
        return Tensor.fromFloats(out, batch, width);                               // [B, width]
    }

    /**
     * {@code add_embedding(addEmbeds)} on this model's backend, [B, time_embed_dim], what is added to the time embedding;
     * null for null (and a UNet without text_time). A UNet with text_time refuses to run without it, as diffusers does.
     */
    public Tensor addedEmbedding(Tensor addEmbeds) {
        if (addEmbedding == null) {
            if (addEmbeds != null) throw new IllegalArgumentException("UNet: added conditioning given, but the config has no addition_embed_type");
            return null;
        }
        if (addEmbeds == null) {
            throw new IllegalArgumentException("UNet: addition_embed_type \"text_time\" needs text_embeds and time_ids (SDXL)");
        }
        int width = config.projectionClassEmbeddingsInputDim();
        if (addEmbeds.rank() != 2 || addEmbeds.dim(1) != width) {
            throw new IllegalArgumentException("UNet added conditioning must be [B, " + width + "], got " + addEmbeds);
        }
        return addEmbedding.forward(backend.upload(addEmbeds));                    // [B, T]
    }

    /**
     * The input of {@code time_embedding.linear_1} on this model's backend: {@link #timeProjection} uploaded, plus
     * {@code cond_proj(timestepCond)} when {@code timestepCond} (host [B, time_cond_proj_dim]) is not null. What
     * {@link #forwardProjected} takes as its time projection.
     */
    public Tensor conditionedTimeProjection(double[] timesteps, Tensor timestepCond) {
        Tensor proj = backend.upload(timeProjection(timesteps));               // [B, c0]
        if (timestepCond == null) return proj;
        Integer dim = config.timeCondProjDim();
        if (dim == null) {
            throw new IllegalArgumentException("UNet: a timestep condition was given but the config has no time_cond_proj_dim");
        }
        if (timestepCond.rank() != 2 || timestepCond.dim(0) != timesteps.length || timestepCond.dim(1) != dim) {
            throw new IllegalArgumentException("UNet timestep condition must be [" + timesteps.length + ", " + dim + "], got "
                    + timestepCond);
        }
        return timeEmbedding.condition(proj, backend.upload(timestepCond));    // [B, c0]
    }

    /**
     * diffusers' {@code get_guidance_scale_embedding(w, embedding_dim = time_cond_proj_dim)}, as
     * {@code StableDiffusionPipeline} conditions an LCM-distilled UNet on w = guidance_scale − 1: host f32
     * [w.length, dim] = [sin(1000·w·f_i), cos(1000·w·f_i)] with f_i = exp(−i · ln(10000) / (half − 1)), zero-padded
     * to an odd width. Throws when the config has no {@code time_cond_proj_dim}.
     */
    public Tensor guidanceEmbedding(double[] w) {
        Integer dim = config.timeCondProjDim();
        if (dim == null) throw new IllegalStateException("this UNet has no time_cond_proj_dim");
        return guidanceScaleEmbedding(w, dim);
    }

    /**
     * {@link #guidanceEmbedding} for any width, in torch's float32 order (its {@code exp} included: w · 1000 turns a
     * last-bit difference in a frequency into 1e-4 in the sine).
     */
    public static Tensor guidanceScaleEmbedding(double[] w, int dim) {
        int half = dim / 2;
        if (half < 2) throw new IllegalArgumentException("guidance embedding width " + dim + " is below 4");
        float step = (float) Math.log(10000.0) / (half - 1);                    // torch.log(tensor(10000.)) / (half - 1)
        float[] freqs = new float[half];
        for (int i = 0; i < half; i++) freqs[i] = SleefExp.expf((float) i * -step); // torch.exp, bit for bit
        float[] out = new float[w.length * dim];
        for (int b = 0; b < w.length; b++) {
            float scaled = (float) w[b] * 1000f;                                // w * 1000.0, float32
            for (int i = 0; i < half; i++) {
                float arg = scaled * freqs[i];
                out[b * dim + i] = (float) Math.sin(arg);
                out[b * dim + half + i] = (float) Math.cos(arg);
            }
        }
        return Tensor.fromFloats(out, w.length, dim);                           // [B, dim]
    }

    private static final Runnable NO_CHECKPOINT = () -> {};

    /**
     * diffusers' {@code time_proj} of {@code timesteps}: the sinusoidal embedding [B, block_out_channels[0]], a host
     * tensor. {@link #forward} uploads it and continues with {@link #forwardProjected}.
     */
    public Tensor timeProjection(double[] timesteps) {
        return timeProj.embed(timesteps);                                       // [B, c0]
    }

    /**
     * {@link #forward} from the time projection on: {@code timeProjection} [B, c0] is
     * {@link #conditionedTimeProjection}'s result (the plain {@link #timeProjection} uploaded, without a condition). Everything here is backend ops on backend
     * tensors (no host transfer), so a backend can record it once and replay it (CUDA graphs).
     */
    public Tensor forwardProjected(Tensor sample, Tensor timeProjection, Tensor encoderHiddenStates) {
        return forwardProjected(sample, timeProjection, null, encoderHiddenStates, NO_CHECKPOINT);
    }

    /**
     * {@link #forwardProjected(Tensor, Tensor, Tensor)} with {@code addedEmbedding} [B, time_embed_dim] on the backend
     * ({@link #addedEmbedding}; null without SDXL's text_time) added to the time embedding.
     */
    public Tensor forwardProjected(Tensor sample, Tensor timeProjection, Tensor addedEmbedding, Tensor encoderHiddenStates) {
        return forwardProjected(sample, timeProjection, addedEmbedding, encoderHiddenStates, NO_CHECKPOINT);
    }

    private Tensor forwardProjected(Tensor sample, Tensor timeProjection, Tensor addedEmbedding, Tensor encoderHiddenStates,
                                    Runnable checkpoint) {
        checkInputs(sample, encoderHiddenStates);
        int c0 = config.blockOutChannels()[0];
        if (timeProjection.rank() != 2 || timeProjection.dim(0) != sample.dim(0) || timeProjection.dim(1) != c0) {
            throw new IllegalArgumentException("UNet time projection must be [" + sample.dim(0) + ", " + c0 + "], got "
                    + timeProjection);
        }
        Tensor context = encoderHiddenStates;                                   // [B, L, D]
        Tensor emb = timeEmbedding.forward(timeProjection);                     // [B, T]
        if ((addedEmbedding == null) != (addEmbedding == null)) {
            throw new IllegalArgumentException(addEmbedding == null ? "UNet: added conditioning given, but the config has no addition_embed_type"
                    : "UNet: addition_embed_type \"text_time\" needs text_embeds and time_ids (SDXL)");
        }
        if (addedEmbedding != null) emb = backend.add(emb, addedEmbedding);     // [B, T]: diffusers' emb + aug_emb

        Tensor h = convIn.forward(sample);                                      // [B, c0, h, w]
        List<Tensor> residuals = new ArrayList<>();
        residuals.add(h);
        checkpoint.run();
        for (UNetDownBlock block : downBlocks) {
            h = block.forward(h, emb, context, residuals);                      // [B, c_i, h / 2^i, w / 2^i]
            checkpoint.run();
        }
        h = midBlock.forward(h, emb, context);                          // [B, c_last, h / f, w / f]
        checkpoint.run();
        // the up blocks release the skips they take; here each block's output once the next has read it
        for (UNetUpBlock block : upBlocks) {
            h = backend.consumed(block.forward(h, residuals, emb, context), h); // [B, c_j, ...], upsampled
            checkpoint.run();
        }
        if (!residuals.isEmpty()) {
            throw new IllegalStateException(residuals.size() + " skip connections left over: block layout mismatch");
        }
        h = backend.consumed(convNormOut.forwardSilu(h), h);                    // [B, c0, h, w]
        return backend.consumed(convOut.forward(h), h);                         // [B, out, h, w]
    }

    private void checkInputs(Tensor sample, Tensor context) {
        if (sample.rank() != 4 || sample.dim(1) != config.inChannels()) {
            throw new IllegalArgumentException("UNet sample must be [B, " + config.inChannels() + ", h, w], got " + sample);
        }
        long b = sample.dim(0);
        int f = config.downscaleFactor();
        if (sample.dim(2) % f != 0 || sample.dim(3) % f != 0) {
            throw new IllegalArgumentException("UNet sample " + sample.dim(2) + "x" + sample.dim(3)
                    + " is not a multiple of " + f + " (2^(blocks - 1))");
        }
        int d = config.crossAttentionDim()[0];
        if (context.rank() != 3 || context.dim(0) != b || context.dim(2) != d) {
            throw new IllegalArgumentException("UNet encoder_hidden_states must be [" + b + ", L, " + d + "], got " + context);
        }
    }
}
