package dev.panamadiffusion.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * Checks of {@code --out} made before any work, so that a path that cannot be written fails in one line with exit
 * code 2 instead of after minutes of sampling: a {@code .png} name, not a folder, inside a folder (made if missing)
 * that can be written.
 */
final class OutputPaths {
    private OutputPaths() {}

    /** {@code out} must name a {@code .png} file. */
    static void requirePng(Path out) {
        Path name = out.getFileName();
        if (name == null || !name.toString().toLowerCase(Locale.ROOT).endsWith(".png") || name.toString().length() <= 4) {
            throw new Main.UsageException("--out " + out + " must name a .png file");
        }
    }

    /** Every file of {@code files} (the images {@code --out} stands for) can be written. */
    static void checkWritable(Path out, List<Path> files) {
        for (Path f : files) {
            Path file = f.toAbsolutePath();
            if (Files.isDirectory(file)) throw new Main.UsageException("--out " + out + ": " + f + " is a folder; give a file name");
            Path parent = file.getParent();
            Path existing = parent;
            while (existing != null && !Files.exists(existing)) existing = existing.getParent();
            if (existing == null) throw new Main.UsageException("--out " + out + ": no folder of " + parent + " exists");
            if (!Files.isDirectory(existing)) {
                throw new Main.UsageException("--out " + out + ": " + existing + " is a file, not a folder");
            }
            if (!Files.isWritable(existing) || !Files.isExecutable(existing)) {
                throw new Main.UsageException("--out " + out + ": cannot write in " + existing + " (permission denied)");
            }
            if (Files.exists(file) && !Files.isWritable(file)) {
                throw new Main.UsageException("--out " + out + ": " + f + " exists and cannot be overwritten (permission denied)");
            }
        }
    }
}
