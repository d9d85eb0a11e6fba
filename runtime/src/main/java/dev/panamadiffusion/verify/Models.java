package dev.panamadiffusion.verify;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.models.clip.CLIPTextModel;
import dev.panamadiffusion.models.unet.UNet2DConditionModel;
import dev.panamadiffusion.models.vae.AutoencoderKL;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Supplier;

/**
 * The component models of one reference set, loaded from their folders on first use and kept for every check that
 * needs them (the UNet serves the UNet check and every loop). A component that fails to load is loaded once: later
 * requests rethrow the first failure.
 */
final class Models implements AutoCloseable {
    private final ReferenceSet set;
    private final Backend backend;
    private final Arena arena = Arena.ofShared();
    private final Lazy<CLIPTextModel> textEncoder;
    private final Lazy<UNet2DConditionModel> unet;
    private final Lazy<AutoencoderKL> vae;

    Models(ReferenceSet set, Backend backend) {
        this.set = set;
        this.backend = backend;
        this.textEncoder = new Lazy<>(() -> CLIPTextModel.load(folder("text_encoder"), backend, arena));
        this.unet = new Lazy<>(() -> UNet2DConditionModel.load(folder("unet"), backend, arena));
        this.vae = new Lazy<>(() -> AutoencoderKL.load(folder("vae"), backend, arena));
    }

    boolean has(String component) { return Files.isDirectory(set.component(component)); }

    CLIPTextModel textEncoder() { return textEncoder.get(); }

    UNet2DConditionModel unet() { return unet.get(); }

    AutoencoderKL vae() { return vae.get(); }

    Backend backend() { return backend; }

    private Path folder(String component) {
        return set.checkedComponent(component);
    }

    @Override
    public void close() {
        arena.close();
    }

    private static final class Lazy<T> {
        private final Supplier<T> load;
        private T value;
        private RuntimeException failure;

        Lazy(Supplier<T> load) {
            this.load = load;
        }

        T get() {
            if (value != null) return value;
            if (failure != null) throw failure;
            try {
                value = load.get();
                return value;
            } catch (RuntimeException e) {
                failure = e;
                throw e;
            }
        }
    }
}
