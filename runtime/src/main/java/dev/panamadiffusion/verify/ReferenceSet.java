package dev.panamadiffusion.verify;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * One folder of reference files (docs/VERIFY.md): which checks its files allow. {@code label} prefixes every check
 * name ("tiny/" for a set found in a sub-folder, "" for the folder given on the command line).
 */
public record ReferenceSet(Path dir, String label) {
    public static final String TOKENIZATIONS = "tokenizations.json";
    public static final String RANDN = "torch_cpu_randn.safetensors";
    public static final String N_ITER = "n_iter_noise.safetensors";
    public static final List<String> COMPONENTS = List.of("text_encoder", "text_encoder_2", "unet", "vae");

    /** {@code dir} itself and each sub-folder (two levels deep at most) that holds reference files, in name order. */
    public static List<ReferenceSet> find(Path dir) {
        List<ReferenceSet> sets = new ArrayList<>();
        collect(dir, dir, 0, sets);
        return sets;
    }

    private static void collect(Path root, Path dir, int depth, List<ReferenceSet> out) {
        String label = root.equals(dir) ? "" : root.relativize(dir).toString().replace('\\', '/') + "/";
        ReferenceSet set = new ReferenceSet(dir, label);
        if (set.hasAnything()) out.add(set);
        if (depth >= 2) return;
        for (Path sub : list(dir)) {
            String name = sub.getFileName().toString();
            // component and scheduler folders belong to the set around them
            if (Files.isDirectory(sub) && !COMPONENTS.contains(name) && !name.startsWith("scheduler_") && !name.startsWith(".")) {
                collect(root, sub, depth + 1, out);
            }
        }
    }

    boolean hasAnything() {
        return tokenizations() != null || Files.isRegularFile(dir.resolve(RANDN)) || Files.isRegularFile(dir.resolve(N_ITER))
                || !loops().isEmpty() || !imageLoops().isEmpty() || !vaeTilings().isEmpty()
                || COMPONENTS.stream().anyMatch(c -> Files.isRegularFile(io(c)));
    }

    /** {@code tokenizations.json}, or null. */
    public Path tokenizations() {
        Path p = dir.resolve(TOKENIZATIONS);
        return Files.isRegularFile(p) ? p : null;
    }

    /** {@code <component>_io.safetensors}. */
    public Path io(String component) { return dir.resolve(component + "_io.safetensors"); }

    /** {@code <component>_weights.safetensors}. */
    public Path flatWeights(String component) { return dir.resolve(component + "_weights.safetensors"); }

    /**
     * The component's diffusers folder: the set's own ({@code unet/}), else the one its {@link ComponentsFile
     * components.json} points to (not yet checked against the recorded hashes: see {@link #checkedComponent}).
     */
    public Path component(String component) {
        Path local = dir.resolve(component);
        if (Files.isDirectory(local)) return local;
        ComponentsFile c = ComponentsFile.read(dir);
        return c == null || c.from() == null ? local : c.from().resolve(component);
    }

    /**
     * {@link #component}, with the files {@code components.json} lists checked against their sha256; a missing folder
     * or another file is an {@link IllegalArgumentException} saying which.
     */
    Path checkedComponent(String component) {
        Path local = dir.resolve(component);
        if (Files.isDirectory(local)) return local;
        ComponentsFile c = ComponentsFile.read(dir);
        if (c == null) throw new IllegalArgumentException("no " + component + "/ folder in " + dir + " (and no " + ComponentsFile.NAME + ")");
        return c.checkedFolder(component);
    }

    /**
     * The single-file checkpoint the set's {@code components.json} names ({@code "checkpoint"}), hash checked, or null
     * when the set has component folders.
     */
    Path checkedCheckpoint() {
        ComponentsFile c = ComponentsFile.read(dir);
        return c == null || c.checkpoint() == null ? null : c.checkedCheckpoint();
    }

    /** The LoRAs the set was recorded with ({@code components.json}'s "loras", hashes checked), or none. */
    List<dev.panamadiffusion.lora.LoraSpec> loras() {
        ComponentsFile c = ComponentsFile.read(dir);
        return c == null ? List.of() : c.loras();
    }

    /** True when the set's LoRAs are applied and removed again before the checks ("remove_loras"). */
    boolean removesLoras() {
        ComponentsFile c = ComponentsFile.read(dir);
        return c != null && c.removeLoras();
    }

    /** {@code loop_*.safetensors}, in name order. */
    public List<Path> loops() {
        List<Path> out = new ArrayList<>();
        for (Path p : list(dir)) {
            String n = p.getFileName().toString();
            if (n.startsWith("loop_") && n.endsWith(".safetensors") && Files.isRegularFile(p)) out.add(p);
        }
        return out;
    }

    /** {@code img2img_*.safetensors} and {@code inpaint_*.safetensors} ({@link ImageLoopChecks}), in name order. */
    public List<Path> imageLoops() {
        List<Path> out = new ArrayList<>();
        for (Path p : list(dir)) {
            if (ImageLoopChecks.FILE.matcher(p.getFileName().toString()).matches() && Files.isRegularFile(p)) out.add(p);
        }
        return out;
    }

    /** {@code vae_tiling_*.safetensors} ({@link VaeTilingChecks}), in name order. */
    public List<Path> vaeTilings() {
        List<Path> out = new ArrayList<>();
        for (Path p : list(dir)) {
            if (VaeTilingChecks.FILE.matcher(p.getFileName().toString()).matches() && Files.isRegularFile(p)) out.add(p);
        }
        return out;
    }

    /**
     * The scheduler name of a loop file: {@code loop_euler_a_cfg7.5.safetensors} → {@code euler_a} (the part after
     * {@code loop_} up to an optional {@code _cfg…} suffix); its config is {@code scheduler_<name>/scheduler_config.json}.
     */
    public static String loopScheduler(Path loop) {
        String n = loop.getFileName().toString();
        n = n.substring("loop_".length(), n.length() - ".safetensors".length());
        int cfg = n.lastIndexOf("_cfg");
        return cfg > 0 ? n.substring(0, cfg) : n;
    }

    private static List<Path> list(Path dir) {
        if (!Files.isDirectory(dir)) return List.of();
        try (Stream<Path> s = Files.list(dir)) {
            return s.sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
