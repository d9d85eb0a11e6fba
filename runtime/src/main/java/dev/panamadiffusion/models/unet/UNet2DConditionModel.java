package dev.panamadiffusion.models.unet;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.nn.Conv2d;
import dev.panamadiffusion.nn.GroupNorm;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.weights.Weights;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * diffusers' {@code UNet2DConditionModel} for Stable Diffusion 1.x and 2.x: predicts the noise (or v) in a latent
 * sample at given timesteps, conditioned on text encoder hidden states. Module and field names follow diffusers, so
 * the weight keys of a diffusers {@code unet/} folder bind 1:1 ({@code conv_in}, {@code time_embedding},
 * {@code down_blocks.i}, {@code mid_block}, {@code up_blocks.i}, {@code conv_norm_out}, {@code conv_out}).
 */
public final class UNet2DConditionModel {
    private final UNet2DConditionConfig config;
    private final Backend backend;
    private final Timesteps timeProj;
    private final TimestepEmbedding timeEmbedding;
    private final Conv2d convIn;
    private final List<UNetDownBlock> downBlocks = new ArrayList<>();
    private final UNetMidBlock2DCrossAttn midBlock;
    private final List<UNetUpBlock> upBlocks = new ArrayList<>();
    private final GroupNorm convNormOut;
    private final Conv2d convOut;

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

    /** Binds the model's weights from {@code w}; call {@link Weights#finish()} afterwards to verify the binding. */
    public UNet2DConditionModel(UNet2DConditionConfig config, Weights w) {
        config.validate();
        this.config = config;
        this.backend = w.backend();
        int[] channels = config.blockOutChannels();
        int n = config.numBlocks();
        int c0 = channels[0];
        float eps = (float) config.normEps();

        this.convIn = new Conv2d(w.pp("conv_in"), config.inChannels(), c0, config.convInKernel(), 1, (config.convInKernel() - 1) / 2);
        this.timeProj = new Timesteps(c0, config.flipSinToCos(), config.freqShift());
        this.timeEmbedding = new TimestepEmbedding(w.pp("time_embedding"), c0, config.timeEmbedDim());

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
        return forward(sample, timesteps, encoderHiddenStates, NO_CHECKPOINT);
    }

    /**
     * {@link #forward(Tensor, double[], Tensor)} calling {@code checkpoint} between blocks (after {@code conv_in}, each
     * down block, the mid block and each up block), so that a caller can abandon the pass by throwing from it (the
     * cancellation of a request at any size, on a backend whose ops run as they are called).
     */
    public Tensor forward(Tensor sample, double[] timesteps, Tensor encoderHiddenStates, Runnable checkpoint) {
        checkInputs(sample, encoderHiddenStates);
        if (timesteps.length != sample.dim(0)) {
            throw new IllegalArgumentException("UNet: " + timesteps.length + " timesteps for a batch of " + sample.dim(0));
        }
        return forwardProjected(sample, backend.upload(timeProjection(timesteps)), encoderHiddenStates, checkpoint);
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
     * {@link #timeProjection}'s result uploaded to this model's backend. Everything here is backend ops on backend
     * tensors (no host transfer), so a backend can record it once and replay it (CUDA graphs).
     */
    public Tensor forwardProjected(Tensor sample, Tensor timeProjection, Tensor encoderHiddenStates) {
        return forwardProjected(sample, timeProjection, encoderHiddenStates, NO_CHECKPOINT);
    }

    private Tensor forwardProjected(Tensor sample, Tensor timeProjection, Tensor encoderHiddenStates, Runnable checkpoint) {
        checkInputs(sample, encoderHiddenStates);
        int c0 = config.blockOutChannels()[0];
        if (timeProjection.rank() != 2 || timeProjection.dim(0) != sample.dim(0) || timeProjection.dim(1) != c0) {
            throw new IllegalArgumentException("UNet time projection must be [" + sample.dim(0) + ", " + c0 + "], got "
                    + timeProjection);
        }
        Tensor context = encoderHiddenStates;                                   // [B, L, D]
        Tensor emb = timeEmbedding.forward(timeProjection);                     // [B, T]

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
        for (UNetUpBlock block : upBlocks) {
            h = block.forward(h, residuals, emb, context);                      // [B, c_j, ...], upsampled
            checkpoint.run();
        }
        if (!residuals.isEmpty()) {
            throw new IllegalStateException(residuals.size() + " skip connections left over: block layout mismatch");
        }
        h = convNormOut.forwardSilu(h);                                         // [B, c0, h, w]
        return convOut.forward(h);                                              // [B, out, h, w]
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
