package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.backend.GraphBackend;
import dev.panamadiffusion.models.unet.UNet2DConditionModel;
import dev.panamadiffusion.tensor.Tensor;

/**
 * One UNet evaluation per denoising step: from the host latents the scheduler holds to the host noise prediction it
 * needs. {@link #create} picks how: on a {@link GraphBackend} (CUDA) the forward pass is recorded once per
 * {@link UNetShape} and replayed ({@link GraphedUNet}); on any other backend it runs as before ({@link EagerUNet}).
 * Not thread-safe (neither are backends).
 */
public interface UNetRunner extends AutoCloseable {
    /** System property: {@code false} turns graph replay off (eager forward passes on every backend). */
    String GRAPHS_PROPERTY = "pd.cuda.graphs";

    /**
     * The model output for host {@code sample} [B, C, h, w] at {@code timesteps} (one per row), conditioned on
     * {@code context} [B, L, D] already on the backend: a host f32 tensor [B, out_channels, h, w].
     */
    default Tensor predict(Tensor sample, double[] timesteps, Tensor context) {
        return predict(sample, timesteps, null, context);
    }

    /**
     * {@link #predict(Tensor, double[], Tensor)} with diffusers' {@code timestep_cond}: host [B, time_cond_proj_dim]
     * (the guidance-scale embedding of an LCM-distilled UNet), or null.
     */
    default Tensor predict(Tensor sample, double[] timesteps, Tensor timestepCond, Tensor context) {
        return predict(sample, timesteps, timestepCond, null, context);
    }

    /**
     * The full form: a timestep condition (or null) and SDXL's added conditioning {@code addEmbeds} (host
     * [B, projection_class_embeddings_input_dim], {@link UNet2DConditionModel#addEmbeds}; null for other UNets).
     */
    Tensor predict(Tensor sample, double[] timesteps, Tensor timestepCond, Tensor addEmbeds, Tensor context);

    /**
     * The UNet's weights were swapped (a LoRA applied or removed): anything recorded over the old weights must go.
     */
    default void weightsChanged() {}

    /** Frees what the runner keeps between steps on the backend (recorded graphs); the next step records anew. */
    default void releaseRecordings() {}

    /**
     * {@link #predict(Tensor, double[], Tensor)}, calling {@code checkpoint} between the UNet's blocks where the runner
     * can (a throw from it abandons the step); a runner that replays a recorded pass whole ignores it.
     */
    default Tensor predict(Tensor sample, double[] timesteps, Tensor context, Runnable checkpoint) {
        return predict(sample, timesteps, null, context, checkpoint);
    }

    /** Both: a timestep condition (or null) and a checkpoint between blocks (ignored by a runner that replays whole). */
    default Tensor predict(Tensor sample, double[] timesteps, Tensor timestepCond, Tensor context, Runnable checkpoint) {
        return predict(sample, timesteps, timestepCond, null, context, checkpoint);
    }

    /** Everything: timestep condition, added conditioning (each or null), checkpoint (ignored by a whole replay). */
    default Tensor predict(Tensor sample, double[] timesteps, Tensor timestepCond, Tensor addEmbeds, Tensor context,
                           Runnable checkpoint) {
        return predict(sample, timesteps, timestepCond, addEmbeds, context);
    }

    /** Releases what the runner keeps on the backend (recorded graphs); the model and backend stay open. */
    @Override
    default void close() {}

    /**
     * Graph replay on a {@link GraphBackend} unless {@code -Dpd.cuda.graphs=false}, keeping as many shapes as
     * {@code -Dpd.cuda.graphs.max} says (default {@value GraphedUNet#DEFAULT_MAX_GRAPHS}); eager otherwise.
     */
    static UNetRunner create(UNet2DConditionModel unet, Backend backend) {
        boolean graphs = !"false".equalsIgnoreCase(System.getProperty(GRAPHS_PROPERTY, "true").strip());
        if (graphs && backend instanceof GraphBackend g) return new GraphedUNet(unet, g, GraphedUNet.maxGraphsSetting());
        return new EagerUNet(unet, backend);
    }
}
