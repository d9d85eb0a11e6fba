package dev.panamadiffusion.lora;

import java.nio.file.Path;
import java.util.Locale;

/**
 * One LoRA to apply: its safetensors file and its strength. A layer's weight becomes
 * {@code W + scale · (alpha / rank) · up @ down} (alpha = rank when the file has none), as diffusers'
 * {@code fuse_lora(lora_scale=scale)} and AUTOMATIC1111's {@code <lora:name:scale>} compute it.
 */
public record LoraSpec(Path file, double scale) {
    public LoraSpec {
        if (file == null) throw new IllegalArgumentException("a LoRA needs a file");
        if (!Double.isFinite(scale)) throw new IllegalArgumentException("LoRA " + file + ": scale " + scale + " is not a finite number");
    }

    /**
     * {@code FILE} or {@code FILE:SCALE} (scale 1 when absent), as {@code --lora} takes it. The scale is what follows
     * the last colon when it parses as a number, so Windows paths ({@code C:\\x.safetensors}) keep their colon.
     */
    public static LoraSpec parse(String text) {
        if (text == null || text.isBlank()) throw new IllegalArgumentException("--lora needs FILE or FILE:SCALE");
        int colon = text.lastIndexOf(':');
        if (colon > 0 && colon < text.length() - 1) {
            String tail = text.substring(colon + 1).strip();
            try {
                double scale = Double.parseDouble(tail);
                return new LoraSpec(Path.of(text.substring(0, colon)), scale);
            } catch (NumberFormatException e) {
                if (tail.matches("[-+0-9.eE]+")) {
                    throw new IllegalArgumentException("--lora " + text + ": scale '" + tail + "' is not a number");
                }
            }
        }
        return new LoraSpec(Path.of(text), 1.0);
    }

    /** {@code file}'s name without {@code .safetensors}. */
    public static String nameOf(Path file) {
        String n = file.getFileName() == null ? file.toString() : file.getFileName().toString();
        return n.toLowerCase(Locale.ROOT).endsWith(".safetensors") ? n.substring(0, n.length() - ".safetensors".length()) : n;
    }

    @Override
    public String toString() { return file + ":" + scale; }
}
