package dev.panamadiffusion.verify;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.io.ModelFolder;
import dev.panamadiffusion.lora.LoraPatcher;
import dev.panamadiffusion.lora.LoraSpec;
import dev.panamadiffusion.models.clip.CLIPTextModel;
import dev.panamadiffusion.models.clip.CLIPTextModelWithProjection;
import dev.panamadiffusion.models.unet.UNet2DConditionModel;
import dev.panamadiffusion.models.vae.AutoencoderKL;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
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
    private final Lazy<Optional<ModelFolder>> checkpoint;
    private final Lazy<CLIPTextModel> textEncoder;
    private final Lazy<UNet2DConditionModel> unet;
    private final Lazy<CLIPTextModelWithProjection> textEncoder2;
    private final Lazy<AutoencoderKL> vae;

    Models(ReferenceSet set, Backend backend) {
        this.set = set;
        this.backend = backend;
        this.checkpoint = new Lazy<>(() -> {
            Path file = set.checkedCheckpoint();
            return Optional.ofNullable(file == null ? null : ModelFolder.open(file));
        });
        this.textEncoder = new Lazy<>(() -> {
            CLIPTextModel m = singleFile() != null ? CLIPTextModel.load(singleFile(), "text_encoder", backend, arena)
                    : CLIPTextModel.load(folder("text_encoder"), backend, arena);
            return withLoras(m, sdxl() ? LoraPatcher.ofSdxl(backend, null, m, null) : LoraPatcher.of(backend, null, m));
        });
        this.textEncoder2 = new Lazy<>(() -> {
            CLIPTextModelWithProjection m = singleFile() != null
                    ? CLIPTextModelWithProjection.load(singleFile(), "text_encoder_2", backend, arena)
                    : CLIPTextModelWithProjection.load(folder("text_encoder_2"), backend, arena);
            return withLoras(m, LoraPatcher.ofSdxl(backend, null, null, m));
        });
        this.unet = new Lazy<>(() -> {
            UNet2DConditionModel m = singleFile() != null ? UNet2DConditionModel.load(singleFile(), "unet", backend, arena)
                    : UNet2DConditionModel.load(folder("unet"), backend, arena);
            return withLoras(m, m.config().hasTextTime() ? LoraPatcher.ofSdxl(backend, m, null, null) : LoraPatcher.of(backend, m, null));
        });
        // in f32 for an SDXL set with force_upcast, as its pipeline runs it (AutoencoderKL.computeBackend)
        this.vae = new Lazy<>(() -> singleFile() != null ? AutoencoderKL.load(singleFile(), "vae", backend, arena, sdxl())
                : AutoencoderKL.load(folder("vae"), backend, arena, sdxl()));
    }

    /** {@code model} after the set's LoRAs were merged into it through {@code patcher} (and removed for "remove_loras"). */
    private <T> T withLoras(T model, LoraPatcher patcher) {
        List<LoraSpec> loras = set.loras();
        if (!loras.isEmpty()) {
            patcher.set(loras);
            if (set.removesLoras()) patcher.clear();
        }
        return model;
    }

    /** An SDXL set: its model has {@code text_encoder_2} (whose LoRA layers the other components' patchers skip). */
    private boolean sdxl() {
        return singleFile() != null ? singleFile().has("text_encoder_2") : Files.isDirectory(set.component("text_encoder_2"));
    }

    boolean has(String component) {
        return Files.isDirectory(set.component(component)) || singleFile() != null;
    }

    /** The set's single-file checkpoint (components.json's "checkpoint"), or null. */
    private ModelFolder singleFile() { return checkpoint.get().orElse(null); }

    CLIPTextModel textEncoder() { return textEncoder.get(); }

    UNet2DConditionModel unet() { return unet.get(); }

    CLIPTextModelWithProjection textEncoder2() { return textEncoder2.get(); }

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
