package dev.panamadiffusion.config;

import java.nio.file.Path;

/**
 * A model config that cannot be trusted: a key with the wrong type, a value outside the range this runtime accepts,
 * or a size that disagrees with the weights. The message is one line naming the file, the key and the problem
 * ({@code unet/config.json: layers_per_block: 1000000 but the weights hold 1 (down_blocks.0.resnets.*)}). The CLI
 * reports it with exit code 2, as it does other bad input.
 */
public class ConfigException extends IllegalArgumentException {
    private final Path file;
    private final String field;
    private final String problem;

    /**
     * {@code file} may be null for a config built in code (a preset); {@code field} is the JSON key, or null for a
     * problem with the file as a whole (not JSON, too large).
     */
    public ConfigException(Path file, String field, String problem) {
        super(oneLine((file == null ? "config" : file.toString()) + ": " + (field == null ? "" : field + ": ") + problem));
        this.file = file;
        this.field = field;
        this.problem = problem;
    }

    /** The same problem attributed to {@code file} (for a config checked before its file was known). */
    public ConfigException in(Path file) {
        ConfigException e = new ConfigException(file, field, problem);
        e.initCause(this);
        return e;
    }

    /**
     * {@code text} with control characters (a newline in a key or value the file supplies) written as {@code \\uXXXX},
     * so a message is always one line.
     */
    public static String oneLine(String text) {
        StringBuilder b = null;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            boolean control = c < 0x20 || (c >= 0x7f && c < 0xa0) || c == 0x2028 || c == 0x2029;
            if (control && b == null) b = new StringBuilder(text.length() + 16).append(text, 0, i);
            if (b != null) {
                if (control) b.append(String.format("\\u%04x", (int) c));
                else b.append(c);
            }
        }
        return b == null ? text : b.toString();
    }

    /** The config file, or null for a config built in code. */
    public Path file() { return file; }

    /** The JSON key at fault (for a key inside a list, the list's key); null for the file as a whole. */
    public String field() { return field; }

    /** What is wrong, without the file and key. */
    public String problem() { return problem; }
}
