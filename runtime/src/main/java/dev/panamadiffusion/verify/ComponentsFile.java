package dev.panamadiffusion.verify;

import com.fasterxml.jackson.databind.JsonNode;
import dev.panamadiffusion.config.ConfigJson;
import dev.panamadiffusion.lora.LoraSpec;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code components.json} of a reference set whose component folders live elsewhere (so that a set recorded over shared
 * models need not copy them): {@code {"components_from": "../tiny", "sha256": {"unet/diffusion_pytorch_model.safetensors":
 * "…"}}}. {@code components_from} is relative to the set's folder (or absolute); a component folder the set itself holds
 * wins. Every listed file must hash to its recorded sha256 before its component is used, because the recorded tensors
 * hold only for exactly those weights.
 *
 * <p>A set recorded over a single-file checkpoint names it instead: {@code {"checkpoint": "tiny-sd1.safetensors",
 * "sha256": {"tiny-sd1.safetensors": "…"}}} (relative to the set's folder); its components are then loaded from that
 * file ({@link dev.panamadiffusion.io.ModelFolder#open}), after its hash is checked.
 */
record ComponentsFile(Path file, Path from, Map<String, String> sha256, Path checkpoint, List<LoraSpec> loras,
                      boolean removeLoras) {
    static final String NAME = "components.json";

    /** The set's {@code components.json}, or null when it has none. */
    static ComponentsFile read(Path setDir) {
        Path file = setDir.resolve(NAME);
        if (!Files.isRegularFile(file)) return null;
        JsonNode root = ConfigJson.tree(file);
        JsonNode from = root.get("components_from");
        JsonNode checkpoint = root.get("checkpoint");
        boolean single = checkpoint != null && checkpoint.isTextual() && !checkpoint.asText().isBlank();
        if (!single && (from == null || !from.isTextual() || from.asText().isBlank())) {
            throw new IllegalArgumentException(file + ": no \"components_from\" folder (or \"checkpoint\" file)");
        }
        Map<String, String> hashes = new LinkedHashMap<>();
        JsonNode sha = root.get("sha256");
        if (sha != null) {
            for (Iterator<Map.Entry<String, JsonNode>> it = sha.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                hashes.put(e.getKey(), e.getValue().asText());
            }
        }
        List<LoraSpec> loras = new ArrayList<>();
        JsonNode list = root.get("loras");
        if (list != null) {
            if (!list.isArray()) throw new IllegalArgumentException(file + ": \"loras\" must be a list of {file, scale, sha256}");
            for (JsonNode l : list) {
                JsonNode f = l.get("file"), scale = l.get("scale");
                if (f == null || !f.isTextual() || scale == null || !scale.isNumber()) {
                    throw new IllegalArgumentException(file + ": each of \"loras\" needs a \"file\" and a numeric \"scale\", got " + l);
                }
                Path lf = setDir.resolve(f.asText()).normalize();
                JsonNode hash = l.get("sha256");
                if (hash != null) checkHash(file, lf, hash.asText());
                loras.add(new LoraSpec(lf, scale.asDouble()));
            }
        }
        JsonNode remove = root.get("remove_loras");
        return new ComponentsFile(file, single ? null : setDir.resolve(from.asText()).normalize(), hashes,
                single ? setDir.resolve(checkpoint.asText()).normalize() : null, List.copyOf(loras),
                remove != null && remove.asBoolean(false));
    }

    private static void checkHash(Path file, Path f, String want) {
        if (!Files.isRegularFile(f)) throw new IllegalArgumentException(file + ": " + f + " does not exist");
        String got = sha256(f);
        if (!got.equalsIgnoreCase(want)) {
            throw new IllegalArgumentException(file + ": " + f + " has sha256 " + got + ", but the set was recorded with " + want);
        }
    }

    /**
     * {@code component}'s folder below {@code components_from}, after checking the sha256 of each of its listed files;
     * a missing or different file is an {@link IllegalArgumentException} saying which.
     */
    Path checkedFolder(String component) {
        if (from == null) throw new IllegalArgumentException(file + ": the set's components come from the checkpoint " + checkpoint);
        Path dir = from.resolve(component);
        if (!Files.isDirectory(dir)) {
            throw new IllegalArgumentException(file + ": no " + component + "/ folder in components_from " + from);
        }
        for (Map.Entry<String, String> e : sha256.entrySet()) {
            if (!e.getKey().startsWith(component + "/")) continue;
            Path f = from.resolve(e.getKey());
            if (!Files.isRegularFile(f)) throw new IllegalArgumentException(file + ": " + f + " does not exist");
            String got = sha256(f);
            if (!got.equalsIgnoreCase(e.getValue())) {
                throw new IllegalArgumentException(file + ": " + f + " has sha256 " + got + ", but the set was recorded with "
                        + e.getValue() + " (other weights)");
            }
        }
        return dir;
    }

    /** The single-file checkpoint, after checking its sha256 when one is listed for it. */
    Path checkedCheckpoint() {
        if (!Files.isRegularFile(checkpoint)) throw new IllegalArgumentException(file + ": checkpoint " + checkpoint + " does not exist");
        String want = sha256.get(checkpoint.getFileName().toString());
        if (want != null) {
            String got = sha256(checkpoint);
            if (!got.equalsIgnoreCase(want)) {
                throw new IllegalArgumentException(file + ": " + checkpoint + " has sha256 " + got + ", but the set was recorded with "
                        + want + " (other weights)");
            }
        }
        return checkpoint;
    }

    static String sha256(Path f) {
        try (InputStream in = Files.newInputStream(f)) {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            byte[] buf = new byte[1 << 16];
            for (int n; (n = in.read(buf)) > 0; ) md.update(buf, 0, n);
            return HexFormat.of().formatHex(md.digest());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e); // every JDK has SHA-256
        }
    }
}
