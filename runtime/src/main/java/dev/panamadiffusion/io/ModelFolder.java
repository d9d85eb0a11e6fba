package dev.panamadiffusion.io;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A diffusers model folder: {@code model_index.json} plus one folder per component ({@code unet/}, {@code vae/},
 * {@code text_encoder/}, {@code tokenizer/}, {@code scheduler/}). Every problem is an {@link IllegalArgumentException}
 * naming the folder and what is missing.
 *
 * <p>{@link #openComponents} also takes a bare folder of component folders without {@code model_index.json}, as the
 * reference data ships ({@code unet/}, {@code vae/}, {@code text_encoder/}, {@code scheduler_ddim/}, ...); its index is
 * then read from the components' own configs.
 */
public final class ModelFolder {
    public static final String INDEX = "model_index.json";

    private final Path dir;
    private final ModelIndex index;

    private ModelFolder(Path dir, ModelIndex index) {
        this.dir = dir;
        this.index = index;
    }

    /** Opens {@code dir}, reading and validating its {@code model_index.json}. */
    public static ModelFolder open(Path dir) {
        if (!Files.exists(dir)) throw new IllegalArgumentException("model folder " + dir + " does not exist");
        if (!Files.isDirectory(dir)) throw new IllegalArgumentException("model folder " + dir + " is not a directory");
        Path index = dir.resolve(INDEX);
        if (!Files.isRegularFile(index)) {
            throw new IllegalArgumentException("model folder " + dir + " has no " + INDEX + ": not a diffusers model folder"
                    + " (expected " + INDEX + ", unet/, vae/, text_encoder/, tokenizer/, scheduler/)");
        }
        return new ModelFolder(dir, ModelIndex.read(index));
    }

    /**
     * Like {@link #open}, but a folder without {@code model_index.json} is accepted when it holds component folders
     * (see {@link ModelIndex#fromComponents}); its {@link #index()} has no pipeline class name.
     */
    public static ModelFolder openComponents(Path dir) {
        if (Files.isRegularFile(dir.resolve(INDEX))) return open(dir);
        if (!Files.isDirectory(dir)) throw new IllegalArgumentException("model folder " + dir + " does not exist or is not a directory");
        return new ModelFolder(dir, ModelIndex.fromComponents(dir));
    }

    public Path dir() { return dir; }

    public ModelIndex index() { return index; }

    /** The folder's name, used as the model's name (A1111's "Model" parameter). */
    public String name() {
        Path n = dir.toAbsolutePath().normalize().getFileName();
        return n == null ? dir.toString() : n.toString();
    }

    /** True when the component's folder exists. */
    public boolean has(String name) { return Files.isDirectory(dir.resolve(name)); }

    /** The folder of component {@code name}; a missing one is an error naming the model folder. */
    public Path component(String name) {
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
        boolean scheduler = name.equals("scheduler") || name.startsWith("scheduler_");
        Path file = component(name).resolve(scheduler ? "scheduler_config.json" : "config.json");
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("model folder " + dir + " has no " + dir.relativize(file) + " file");
        }
        return file;
    }
}
