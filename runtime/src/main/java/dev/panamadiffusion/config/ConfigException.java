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

    /** {@code file} may be null for a config built in code (a preset); {@code field} is the JSON key. */
    public ConfigException(Path file, String field, String problem) {
        super((file == null ? "config" : file.toString()) + ": " + field + ": " + problem);
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

    /** The config file, or null for a config built in code. */
    public Path file() { return file; }

    /** The JSON key at fault (for a key inside a list, the list's key). */
    public String field() { return field; }

    /** What is wrong, without the file and key. */
    public String problem() { return problem; }
}
