package dev.panamadiffusion.pipeline;

import com.fasterxml.jackson.databind.JsonNode;
import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.config.ConfigException;
import dev.panamadiffusion.io.ModelFolder;
import dev.panamadiffusion.models.clip.CLIPTextConfig;
import dev.panamadiffusion.models.clip.CLIPTextModel;
import dev.panamadiffusion.models.clip.CLIPTextModelWithProjection;
import dev.panamadiffusion.models.unet.UNet2DConditionConfig;
import dev.panamadiffusion.models.unet.UNet2DConditionModel;
import dev.panamadiffusion.models.vae.AutoencoderKL;
import dev.panamadiffusion.models.vae.AutoencoderKLConfig;
import dev.panamadiffusion.schedulers.SchedulerConfig;
import dev.panamadiffusion.tokenizer.CLIPTokenizer;

import java.lang.foreign.Arena;
import java.nio.file.Path;

/**
 * What a {@link StableDiffusionPipeline} is made of, read from a model folder or single-file checkpoint: its configs
 * (sizes, limits, SD 1.x/2.x, SDXL base or refiner), its components loaded and checked against each other, composed
 * into the pipeline ({@link StableDiffusionPipeline#load} runs this under device-memory recovery).
 */
final class PipelineLoader {
    private PipelineLoader() {}

    static StableDiffusionPipeline load(ModelFolder folder, Backend backend, RequestLimits limits) {
        Path modelDir = folder.dir();
        SizeRule sizes = sizeRule(folder);
        JsonNode schedulerJson = folder.config("scheduler");
        SchedulerConfig schedulerConfig = folder.isSingleFile() ? SchedulerConfig.parse(schedulerJson.toString())
                : SchedulerConfig.read(folder.configFile("scheduler"));
        String defaultSampler = StableDiffusionPipeline.samplerName(schedulerJson);
        boolean refiner = isRefiner(folder);
        if (refiner && !isSdxl(folder)) {
            throw new IllegalArgumentException("model folder " + modelDir + ": " + ModelFolder.INDEX + " sets requires_aesthetics_score"
                    + " (an SDXL refiner) but lists no text_encoder_2");
        }
        // the SDXL refiner has text_encoder_2 alone (text_encoder and tokenizer null in model_index.json)
        boolean firstEncoder = !isSdxl(folder) || folder.index().components().containsKey("text_encoder");
        Arena arena = Arena.ofShared();
        try {
            CLIPTokenizer tokenizer = firstEncoder ? CLIPTokenizer.load(folder.component("tokenizer"), folder.padToken()) : null;
            CLIPTextModel textEncoder = firstEncoder ? CLIPTextModel.load(folder, "text_encoder", backend, arena) : null;
            UNet2DConditionModel unet = UNet2DConditionModel.load(folder, "unet", backend, arena);
            // in f32 for SDXL with force_upcast (AutoencoderKL.computeBackend: diffusers' needs_upcasting)
            AutoencoderKL vae = AutoencoderKL.load(folder, "vae", backend, arena, isSdxl(folder));
            PromptConditioning conditioning;
            if (isSdxl(folder)) {
                conditioning = sdxlConditioning(folder, backend, arena, tokenizer, textEncoder, unet, refiner);
            } else if (unet.config().hasTextTime()) {
                throw new IllegalArgumentException("model folder " + modelDir + ": the UNet has SDXL's text_time conditioning"
                        + " but the folder has no text_encoder_2");
            } else if (textEncoder.config().hiddenSize() != unet.config().crossAttentionDim()[0]) {
                throw new IllegalArgumentException("model folder " + modelDir + ": the text encoder's hidden size "
                        + textEncoder.config().hiddenSize() + " does not match the UNet's cross_attention_dim "
                        + unet.config().crossAttentionDim()[0]);
            } else {
                conditioning = new ClipConditioning(backend, tokenizer, textEncoder, folder.component("tokenizer"));
            }
            if (tokenizer != null && tokenizer.maxLength() > textEncoder.config().maxPositionEmbeddings()) {
                throw new ConfigException(folder.component("tokenizer").resolve("tokenizer_config.json"), "model_max_length",
                        tokenizer.maxLength() + ", but the text encoder has " + textEncoder.config().maxPositionEmbeddings()
                                + " positions");
            }
            // a single file holds no tokenizer: the bundled CLIP one is checked per prompt instead (tokenIds)
            if (!folder.isSingleFile() && tokenizer != null) checkTokenizer(folder, tokenizer, textEncoder.config());
            int latent = vae.config().latentChannels(), in = unet.config().inChannels();
            if (unet.config().outChannels() != latent || in != latent && !InpaintConditioning.takenBy(in, latent)) {
                throw new IllegalArgumentException("model folder " + modelDir + ": the UNet maps " + in + " to "
                        + unet.config().outChannels() + " channels but the VAE's latents have " + latent + "; this runtime"
                        + " runs UNets of " + latent + " (or, inpainting, " + (2 * latent + 1) + ") in and " + latent + " out");
            }
            return new StableDiffusionPipeline(folder, backend, arena, conditioning, unet,
                    UNetRunner.create(unet, backend), vae, schedulerConfig, defaultSampler, sizes, limits, refiner);
        } catch (RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    /** Whether {@code folder} is an SDXL model: a second text encoder beside the first (StableDiffusionXLPipeline). */
    static boolean isSdxl(ModelFolder folder) {
        return folder.index().components().containsKey("text_encoder_2");
    }

    /**
     * Whether {@code folder} is an SDXL refiner: {@code model_index.json}'s {@code requires_aesthetics_score}
     * ({@code StableDiffusionXLImg2ImgPipeline}'s, as stabilityai/stable-diffusion-xl-refiner-1.0 sets it), which makes
     * the UNet's time ids original size, crop and aesthetic score.
     */
    static boolean isRefiner(ModelFolder folder) {
        return folder.index().flag("requires_aesthetics_score", false);
    }

    /**
     * SDXL's second tokenizer and text encoder (with projection), checked, composed into a {@link SdxlConditioning}
     * (the refiner's when {@code textEncoder} is null or {@code refiner}).
     */
    private static PromptConditioning sdxlConditioning(ModelFolder folder, Backend backend, Arena arena, CLIPTokenizer tokenizer,
                                                       CLIPTextModel textEncoder, UNet2DConditionModel unet, boolean refiner) {
        CLIPTokenizer tokenizer2 = CLIPTokenizer.load(folder.component("tokenizer_2"), folder.padToken("tokenizer_2"));
        CLIPTextModelWithProjection textEncoder2 = CLIPTextModelWithProjection.load(folder, "text_encoder_2", backend, arena);
        // a single file holds no tokenizer: the bundled CLIP one is checked per prompt instead (tokenIds)
        if (!folder.isSingleFile()) checkTokenizer(folder, tokenizer2, textEncoder2.config());
        try {
            // StableDiffusionXLImg2ImgPipeline's force_zeros_for_empty_prompt default is true too; the refiner's index says false
            boolean zeros = folder.index().flag("force_zeros_for_empty_prompt", true);
            return new SdxlConditioning(backend, tokenizer, textEncoder, textEncoder == null ? null : folder.component("tokenizer"),
                    tokenizer2, textEncoder2, folder.component("tokenizer_2"), unet, zeros, refiner);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("model folder " + folder.dir() + ": " + e.getMessage(), e);
        }
    }

    /**
     * The sizes the model in {@code folder} can generate, from its {@code unet/} and {@code vae/} configs alone (no
     * weights are read): the VAE scales by 2^(len(block_out_channels) − 1), the UNet downsamples once per down block
     * but the last.
     */
    public static SizeRule sizeRule(ModelFolder folder) {
        // the validated configs: block counts are bounded, so the shifts cannot overflow
        int vaeBlocks = AutoencoderKLConfig.read(folder.configFile("vae"), folder.config("vae")).blockOutChannels().length;
        int unetBlocks = UNet2DConditionConfig.read(folder.configFile("unet"), folder.config("unet")).numBlocks();
        return new SizeRule(1 << (vaeBlocks - 1), unetBlocks - 1);
    }

    /**
     * What the model in {@code folder} allows ({@link RequestLimits.Model}), from its {@code unet/}, {@code vae/} and
     * {@code text_encoder/} configs alone (no weights are read).
     */
    public static RequestLimits.Model modelLimits(ModelFolder folder) {
        SizeRule sizes = sizeRule(folder);
        // folder.config: a single file's configs are derived, not read from files
        int side = UNet2DConditionConfig.read(folder.configFile("unet"), folder.config("unet")).sampleSize() * sizes.vaeScaleFactor();
        boolean sdxl = isSdxl(folder);
        boolean first = !sdxl || folder.index().components().containsKey("text_encoder");   // the refiner has none
        int layers = first ? CLIPTextConfig.read(folder.configFile("text_encoder"), folder.config("text_encoder")).numHiddenLayers()
                : Integer.MAX_VALUE;
        if (sdxl) {   // SdxlConditioning.maxClipSkip: hidden_states[-(k + 2)] of both encoders
            layers = Math.min(layers, CLIPTextConfig.read(folder.configFile("text_encoder_2"), folder.config("text_encoder_2"))
                    .numHiddenLayers()) - 1;
        }
        return new RequestLimits.Model(sizes, side, side, layers, sdxl, sdxl && isRefiner(folder));
    }

    /** The text encoder must have an embedding for every id the tokenizer can give (its vocabulary and special tokens). */
    private static void checkTokenizer(ModelFolder folder, CLIPTokenizer tokenizer, CLIPTextConfig text) {
        int max = tokenizer.maxTokenId();
        if (max >= text.vocabSize()) {
            throw new IllegalArgumentException("model folder " + folder.dir() + ": the tokenizer gives token ids up to " + max
                    + " but the text encoder has embeddings for " + text.vocabSize() + " ids: tokenizer/ does not belong to"
                    + " this text encoder");
        }
    }
}
