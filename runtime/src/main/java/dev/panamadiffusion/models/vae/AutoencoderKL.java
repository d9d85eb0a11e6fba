package dev.panamadiffusion.models.vae;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.io.ModelFolder;
import dev.panamadiffusion.nn.Conv2d;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.weights.Weights;

import java.lang.foreign.Arena;
import java.nio.file.Path;

/**
 * diffusers' {@code AutoencoderKL}: {@code encoder} + {@code quant_conv} to the latent distribution,
 * {@code post_quant_conv} + {@code decoder} back to pixels.
 */
public final class AutoencoderKL {
    private final AutoencoderKLConfig config;
    private final Backend backend;
    private final Encoder encoder;
    private final Decoder decoder;
    private final Conv2d quantConv;
    private final Conv2d postQuantConv;

    /**
     * Binds the model to {@code w}. Missing or mis-shaped keys are reported by {@code w.finish()}, which the caller
     * must call before the first forward (as {@link #load} does).
     */
    public AutoencoderKL(AutoencoderKLConfig config, Weights w) {
        this.config = config;
        this.backend = w.backend();
        long latent2 = 2L * config.latentChannels();
        this.encoder = new Encoder(w.pp("encoder"), config);
        this.decoder = new Decoder(w.pp("decoder"), config);
        this.quantConv = config.useQuantConv() ? new Conv2d(w.pp("quant_conv"), latent2, latent2, 1, 1, 0) : null;
        this.postQuantConv = config.usePostQuantConv()
                ? new Conv2d(w.pp("post_quant_conv"), config.latentChannels(), config.latentChannels(), 1, 1, 0) : null;
    }

    /**
     * Loads a diffusers {@code vae/} folder: {@code config.json} and its safetensors weights, mapped into
     * {@code arena} and uploaded to {@code backend}. Every weight must bind, and no key may be left over.
     */
    public static AutoencoderKL load(Path componentDir, Backend backend, Arena arena) {
        return load(componentDir, backend, arena, false);
    }

    /**
     * As {@link #load(Path, Backend, Arena)}, onto {@link #computeBackend computeBackend(config, backend,
     * sdxlPipeline)}: {@code backend.float32()} for an SDXL pipeline's VAE whose config sets {@code force_upcast}.
     */
    public static AutoencoderKL load(Path componentDir, Backend backend, Arena arena, boolean sdxlPipeline) {
        Path configFile = componentDir.resolve("config.json");
        AutoencoderKLConfig config = AutoencoderKLConfig.read(configFile);
        return Weights.load(componentDir, computeBackend(config, backend, sdxlPipeline), arena, "AutoencoderKL",
                weights -> config.checkWeights(configFile, weights), w -> new AutoencoderKL(config, w));
    }

    /**
     * Loads component {@code component} of {@code model} (a diffusers folder, or a single-file checkpoint presented
     * under diffusers names), as {@link #load(Path, Backend, Arena)} does a folder.
     */
    public static AutoencoderKL load(ModelFolder model, String component, Backend backend, Arena arena) {
        return load(model, component, backend, arena, false);
    }

    /** As {@link #load(ModelFolder, String, Backend, Arena)}, upcast as {@link #load(Path, Backend, Arena, boolean)}. */
    public static AutoencoderKL load(ModelFolder model, String component, Backend backend, Arena arena, boolean sdxlPipeline) {
        Path configFile = model.configFile(component);
        AutoencoderKLConfig config = AutoencoderKLConfig.read(configFile, model.config(component));
        return Weights.load(model, component, computeBackend(config, backend, sdxlPipeline), arena, "AutoencoderKL",
                weights -> config.checkWeights(configFile, weights), w -> new AutoencoderKL(config, w));
    }

    /**
     * The backend a pipeline on {@code backend} runs its VAE on, as diffusers decides: its SDXL pipelines upcast an
     * f16 VAE whose config sets {@code force_upcast} ({@code needs_upcasting}, and {@code prepare_latents} /
     * {@code _encode_vae_image} for the encoder), so {@code backend.float32()} (the CPU backend is f32 already); its
     * SD 1.x/2.x pipelines never look at the flag, so their VAE runs on {@code backend} itself, though configs that
     * do not name the flag (SD 1.5's) read as {@code force_upcast} true.
     */
    public static Backend computeBackend(AutoencoderKLConfig config, Backend backend, boolean sdxlPipeline) {
        return sdxlPipeline && config.forceUpcast() ? backend.float32() : backend;
    }

    public AutoencoderKLConfig config() { return config; }

    public float scalingFactor() { return (float) config.scalingFactor(); }

    /** The backend the weights live on and the VAE computes on ({@link #computeBackend}): its results are this one's. */
    public Backend backend() { return backend; }

    /**
     * Latents to images, as diffusers' {@code vae.decode(z).sample}: {@code z} [B, latent, h, w] on the host or a
     * device of {@link #backend()} (an f16 UNet's latents for an upcast VAE: converted there by its upload), already
     * divided by {@link #scalingFactor()}; returns [B, out, 8h, 8w] (for SD) on {@link #backend()}, roughly in [-1, 1].
     */
    public Tensor decode(Tensor z) {
        checkChannels(z, config.latentChannels(), "latents");
        z = backend.upload(z);                                            // [B, latent, h, w]
        Tensor h = postQuantConv != null ? postQuantConv.forward(z) : z; // [B, latent, h, w]
        return decoder.forward(h);                                        // [B, out, H, W]
    }

    /**
     * Images to the latent distribution, as diffusers' {@code vae.encode(x).latent_dist}: {@code x} [B, in, H, W] on
     * the host or a device of {@link #backend()}, in [-1, 1]; the distribution's tensors are host f32
     * [B, latent, H/8, W/8] (for SD), unscaled.
     */
    public DiagonalGaussianDistribution encode(Tensor x) {
        checkChannels(x, config.inChannels(), "images");
        Tensor h = encoder.forward(backend.upload(x));                // [B, 2*latent, h, w]
        Tensor moments = quantConv != null ? quantConv.forward(h) : h; // [B, 2*latent, h, w]
        return new DiagonalGaussianDistribution(backend.download(moments));
    }

    private static void checkChannels(Tensor t, int channels, String what) {
        if (t.rank() != 4 || t.dim(1) != channels) {
            throw new IllegalArgumentException(what + " must be [B, " + channels + ", H, W], got " + t);
        }
    }
}
