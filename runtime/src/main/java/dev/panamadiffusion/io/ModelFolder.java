package dev.panamadiffusion.io;

import com.fasterxml.jackson.databind.JsonNode;
import dev.panamadiffusion.config.ConfigJson;
import dev.panamadiffusion.tensor.Tensor;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A diffusers model folder: {@code model_index.json} plus one folder per component ({@code unet/}, {@code vae/},
 * {@code text_encoder/}, {@code tokenizer/}, {@code scheduler/}). Every problem is an {@link IllegalArgumentException}
 * naming the folder and what is missing.
 *
 * <p>{@link #openComponents} also takes a bare folder of component folders without {@code model_index.json}, as the
 * reference data ships ({@code unet/}, {@code vae/}, {@code text_encoder/}, {@code scheduler_ddim/}, ...); its index is
 * then read from the components' own configs.
 *
 * <p>{@link #open} also takes a single {@code .safetensors} checkpoint in the original CompVis/LDM layout
 * ({@link LdmCheckpoint}): it then stands for the diffusers folder the file converts to, with configs derived from the
 * tensors ({@link #config}), the tensors under diffusers names as views of the mapped file ({@link #weights}), the SD
 * 1.x CLIP tokenizer the demo model ships ({@link #component} {@code ("tokenizer")}) and, for SD 2.x, the pad token
 * {@code "!"} ({@link #padToken}). An SDXL base file stands for a {@code StableDiffusionXLPipeline} folder: also
 * {@code text_encoder_2} and {@code tokenizer_2} (the same CLIP tokenizer, padding with {@code "!"}), an Euler scheduler
 * and {@code force_zeros_for_empty_prompt}, as diffusers' {@code from_single_file} builds it. Pickle checkpoints
 * ({@code .ckpt}, ...) are refused ({@link CheckpointException}).
 */
public final class ModelFolder {
    public static final String INDEX = "model_index.json";

    private final Path dir;
    private final ModelIndex index;
    private final LdmCheckpoint checkpoint; // null for a folder

    private ModelFolder(Path dir, ModelIndex index, LdmCheckpoint checkpoint) {
        this.dir = dir;
        this.index = index;
        this.checkpoint = checkpoint;
    }

    /**
     * Opens {@code dir}, reading and validating its {@code model_index.json}; or, when {@code dir} is a file, the
     * single-file checkpoint it is ({@link #open(Path, PredictionType)} with the prediction type its LDM config or
     * family implies).
     */
    public static ModelFolder open(Path dir) {
        return open(dir, null);
    }

    /**
     * As {@link #open(Path)}; {@code prediction} (null: from the LDM config beside the file, else the family's
     * default) is what a single-file checkpoint's UNet predicts. A folder's scheduler config says that itself, so
     * {@code prediction} must be null for a folder.
     */
    public static ModelFolder open(Path dir, PredictionType prediction) {
        if (Files.isRegularFile(dir)) {
            LdmCheckpoint c = LdmCheckpoint.open(dir, prediction);
            Map<String, ModelIndex.Component> components = new LinkedHashMap<>();
            components.put("unet", new ModelIndex.Component("diffusers", "UNet2DConditionModel"));
            components.put("vae", new ModelIndex.Component("diffusers", "AutoencoderKL"));
            if (!c.isSdxlRefiner()) components.put("text_encoder", new ModelIndex.Component("transformers", "CLIPTextModel"));
            if (c.isSdxl()) components.put("text_encoder_2", new ModelIndex.Component("transformers", "CLIPTextModelWithProjection"));
            if (!c.isSdxlRefiner()) components.put("tokenizer", new ModelIndex.Component("transformers", "CLIPTokenizer"));
            if (c.isSdxl()) components.put("tokenizer_2", new ModelIndex.Component("transformers", "CLIPTokenizer"));
            components.put("scheduler", new ModelIndex.Component("diffusers", c.config("scheduler").get("_class_name").asText()));
            if (c.isSdxlRefiner()) {   // convert_from_ckpt's SDXL-Refiner: an img2img pipeline with aesthetic scores
                String cls = c.isInpainting() ? "StableDiffusionXLInpaintPipeline" : "StableDiffusionXLImg2ImgPipeline";
                return new ModelFolder(dir, new ModelIndex(cls, null, components,
                        Map.of("requires_aesthetics_score", true, "force_zeros_for_empty_prompt", false)), c);
            }
            if (c.isSdxl()) {
                String cls = c.isInpainting() ? "StableDiffusionXLInpaintPipeline" : "StableDiffusionXLPipeline";
                return new ModelFolder(dir, new ModelIndex(cls, null, components, Map.of("force_zeros_for_empty_prompt", true)), c);
            }
            String cls = c.isInpainting() ? "StableDiffusionInpaintPipeline" : "StableDiffusionPipeline";
            return new ModelFolder(dir, new ModelIndex(cls, null, components), c);
        }
        if (prediction != null && Files.isDirectory(dir)) {
            throw new IllegalArgumentException("model folder " + dir + ": a prediction type is given only for a single-file"
                    + " checkpoint (a diffusers folder's scheduler/scheduler_config.json sets prediction_type)");
        }
        if (!Files.exists(dir)) throw new IllegalArgumentException("model folder " + dir + " does not exist");
        if (!Files.isDirectory(dir)) throw new IllegalArgumentException("model folder " + dir + " is not a directory");
        Path index = dir.resolve(INDEX);
        if (!Files.isRegularFile(index)) {
            throw new IllegalArgumentException("model folder " + dir + " has no " + INDEX + ": not a diffusers model folder"
                    + " (expected " + INDEX + ", unet/, vae/, text_encoder/, tokenizer/, scheduler/)");
        }
        return new ModelFolder(dir, ModelIndex.read(index), null);
    }

    /**
     * Like {@link #open}, but a folder without {@code model_index.json} is accepted when it holds component folders
     * (see {@link ModelIndex#fromComponents}); its {@link #index()} has no pipeline class name.
     */
    public static ModelFolder openComponents(Path dir) {
        if (Files.isRegularFile(dir.resolve(INDEX))) return open(dir);
        if (!Files.isDirectory(dir)) throw new IllegalArgumentException("model folder " + dir + " does not exist or is not a directory");
        return new ModelFolder(dir, ModelIndex.fromComponents(dir), null);
    }

    /** The folder, or the single-file checkpoint. */
    public Path dir() { return dir; }

    public ModelIndex index() { return index; }

    /** The single-file checkpoint this stands for, or null for a diffusers folder. */
    public LdmCheckpoint checkpoint() { return checkpoint; }

    public boolean isSingleFile() { return checkpoint != null; }

    /** The folder's name (a single file's without its extension), used as the model's name (A1111's "Model" parameter). */
    public String name() {
        Path n = dir.toAbsolutePath().normalize().getFileName();
        String name = n == null ? dir.toString() : n.toString();
        return checkpoint != null && name.toLowerCase(java.util.Locale.ROOT).endsWith(".safetensors")
                ? name.substring(0, name.length() - ".safetensors".length()) : name;
    }

    /** True when the component's folder exists (for a single file: when it provides the component). */
    public boolean has(String name) {
        return checkpoint != null ? checkpoint.components().contains(name) : Files.isDirectory(dir.resolve(name));
    }

    /**
     * The folder of component {@code name}; a missing one is an error naming the model folder. A single file has only
     * a tokenizer folder: the SD 1.x CLIP tokenizer of the demo model ({@link DemoModel}), which all SD 1.x and 2.x
     * models share (SD 2.x with {@link #padToken()} {@code "!"}); an SDXL file's {@code tokenizer_2} is the same
     * (OpenCLIP bigG's tokenizer is CLIP's, padding with {@code "!"}: {@link #padToken(String)}).
     */
    public Path component(String name) {
        if (checkpoint != null) {
            if (!(name.equals("tokenizer") && !checkpoint.isSdxlRefiner()) && !(name.equals("tokenizer_2") && checkpoint.isSdxl())) {
                throw new IllegalArgumentException("model file " + dir + " is a single-file checkpoint: it has no " + name + "/ folder");
            }
            Path demo;
            try {
                demo = DemoModel.locate();
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("model file " + dir + " has no tokenizer; single-file checkpoints use the"
                        + " CLIP tokenizer in " + DemoModel.RELATIVE_PATH + "/tokenizer, which was not found: " + e.getMessage(), e);
            }
            return demo.resolve("tokenizer");
        }
        Path p = dir.resolve(name);
        if (!Files.isDirectory(p)) {
            String listed = index.components().containsKey(name) ? " (" + INDEX + " lists it)" : "";
            throw new IllegalArgumentException("model folder " + dir + " has no " + name + "/ folder" + listed);
        }
        return p;
    }

    /**
     * {@code scheduler/scheduler_config.json} for the scheduler (and any {@code scheduler_*} folder),
     * {@code <name>/config.json} otherwise.
     */
    public Path configFile(String name) {
        if (checkpoint != null) return dir.resolveSibling(dir.getFileName() + "#" + name); // names the derived config in messages
        boolean scheduler = name.equals("scheduler") || name.startsWith("scheduler_");
        Path file = component(name).resolve(scheduler ? "scheduler_config.json" : "config.json");
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("model folder " + dir + " has no " + dir.relativize(file) + " file");
        }
        return file;
    }

    /**
     * Component {@code name}'s config: its {@code config.json} (or {@code scheduler_config.json}) parsed, or, for a
     * single file, the config derived from the tensors.
     */
    public JsonNode config(String name) {
        return checkpoint != null ? checkpoint.config(name) : ConfigJson.tree(configFile(name));
    }

    /**
     * Component {@code name}'s tensors under diffusers names, mapped into {@code arena} (zero-copy: slices and views
     * of the mapped files).
     */
    public Map<String, Tensor> weights(String name, Arena arena) {
        return checkpoint != null ? checkpoint.weights(name, arena) : ModelFiles.loadWeights(component(name), arena);
    }

    /** The tokenizer's pad token when the model needs another than its tokenizer files say ({@code "!"} for a SD 2.x file), else null. */
    public String padToken() {
        return padToken("tokenizer");
    }

    /**
     * As {@link #padToken()} for tokenizer {@code name} ({@code tokenizer} or SDXL's {@code tokenizer_2}): {@code "!"}
     * for a SD 2.x file's tokenizer and an SDXL file's tokenizer_2 (what diffusers loads them with), else null.
     */
    public String padToken(String name) {
        if (checkpoint == null) return null;
        return name.equals("tokenizer") && checkpoint.isSd2() || name.equals("tokenizer_2") && checkpoint.isSdxl() ? "!" : null;
    }

    /** {@code name} as messages show it: the component folder, or {@code file#name} for a single file. */
    public String describe(String name) {
        return checkpoint != null ? configFile(name).toString() : dir.resolve(name).toString();
    }
}
