package dev.panamadiffusion.cuda;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Stream;

/**
 * Finds the shared libraries the CUDA backend uses: the driver ({@code libcuda.so.1}), cuBLASLt
 * ({@code libcublasLt.so.13} or {@code .12}) and cuDNN 9 ({@code libcudnn.so.9}).
 *
 * <p>Folders are searched in this order, the first folder holding a library wins (within a folder, the newest
 * soname): the override (system property {@code pd.cuda.libs}, else environment variable {@code PD_CUDA_LIBS}: a
 * path list of folders or library files), {@code LD_LIBRARY_PATH}, the folders of {@code /etc/ld.so.conf}, the usual
 * driver and toolkit folders ({@code /usr/lib/x86_64-linux-gnu}, {@code /usr/local/nvidia/lib64},
 * {@code /usr/local/cuda/lib64}, {@code $CUDA_HOME/lib64}, ...), then the {@code nvidia/*}{@code /lib} folders of
 * Python's nvidia-* wheels under every site-packages found ({@code $VIRTUAL_ENV}, {@code $CONDA_PREFIX},
 * {@code PYTHONPATH}, {@code /usr/lib/python3*}, {@code /usr/local/lib/python3*}, {@code ~/.local/lib/python3*},
 * {@code /opt/*}{@code /.venv}).
 */
public final class CudaLibraries {
    /** System property naming folders or files to search first. */
    public static final String PROPERTY = "pd.cuda.libs";
    /** Environment variable naming folders or files to search first (after the property). */
    public static final String ENV = "PD_CUDA_LIBS";

    /** The libraries, each with its accepted file names, newest first. */
    public enum Library {
        DRIVER("the NVIDIA driver", "libcuda.so.1"),
        CUBLASLT("cuBLASLt", "libcublasLt.so.13", "libcublasLt.so.12"),
        CUDNN("cuDNN 9", "libcudnn.so.9");

        private final String description;
        private final List<String> fileNames;

        Library(String description, String... fileNames) {
            this.description = description;
            this.fileNames = List.of(fileNames);
        }

        public String description() { return description; }

        public List<String> fileNames() { return fileNames; }
    }

    /** cuDNN's sub-libraries, loaded from libcudnn.so.9's folder (in dependency order) when present there. */
    static final List<String> CUDNN_PARTS = List.of("libcudnn_graph.so.9", "libcudnn_ops.so.9", "libcudnn_cnn.so.9",
            "libcudnn_adv.so.9", "libcudnn_heuristic.so.9", "libcudnn_engines_precompiled.so.9",
            "libcudnn_engines_runtime_compiled.so.9");

    private final List<Path> searched;
    private final Map<Library, Path> found;

    private CudaLibraries(List<Path> searched, Map<Library, Path> found) {
        this.searched = List.copyOf(searched);
        this.found = Map.copyOf(found);
    }

    /** Searches the default places (see the class comment), reading the override from the property or environment. */
    public static CudaLibraries locate() {
        String override = System.getProperty(PROPERTY);
        if (override == null || override.isBlank()) override = System.getenv(ENV);
        return search(defaultSearchPath(override, System.getenv("LD_LIBRARY_PATH"), System.getenv()));
    }

    /** Searches exactly {@code places} (folders, or library files that match by name), in order. */
    public static CudaLibraries search(List<Path> places) {
        Map<Library, Path> found = new java.util.EnumMap<>(Library.class);
        for (Library lib : Library.values()) {
            for (Path place : places) {
                Path hit = findIn(place, lib);
                if (hit != null) {
                    found.put(lib, hit);
                    break;
                }
            }
        }
        return new CudaLibraries(places, found);
    }

    private static Path findIn(Path place, Library lib) {
        if (Files.isRegularFile(place)) {
            String name = place.getFileName().toString();
            return lib.fileNames.contains(name) ? place.toAbsolutePath() : null;
        }
        for (String name : lib.fileNames) {
            Path p = place.resolve(name);
            if (Files.isRegularFile(p)) return p.toAbsolutePath();  // follows symlinks
        }
        return null;
    }

    /**
     * The emulator's libraries: its one library (which exports the driver, cuBLASLt and cuDNN symbols) stands for all
     * three (see {@link CudaDriver}).
     */
    public static CudaLibraries emulated(Path emulatorLibrary) {
        Map<Library, Path> found = new java.util.EnumMap<>(Library.class);
        for (Library lib : Library.values()) found.put(lib, emulatorLibrary.toAbsolutePath());
        return new CudaLibraries(List.of(emulatorLibrary.toAbsolutePath()), found);
    }

    /** The library's path, if found. */
    public Optional<Path> path(Library lib) { return Optional.ofNullable(found.get(lib)); }

    /** The places searched, in order. */
    public List<Path> searched() { return searched; }

    /** "libcuda.so.1 (the NVIDIA driver) not found in N places (...); set -Dpd.cuda.libs=... or PD_CUDA_LIBS=...". */
    public String notFoundMessage(Library lib) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.join(" / ", lib.fileNames)).append(" (").append(lib.description).append(") not found in ")
                .append(searched.size()).append(" places searched");
        if (!searched.isEmpty()) {
            sb.append(" (");
            int shown = Math.min(6, searched.size());
            for (int i = 0; i < shown; i++) sb.append(i > 0 ? ", " : "").append(searched.get(i));
            if (shown < searched.size()) sb.append(", ...");
            sb.append(")");
        }
        sb.append("; set -D").append(PROPERTY).append("=DIR or ").append(ENV).append("=DIR to its folder");
        return sb.toString();
    }

    /**
     * The default search order: {@code override} entries, {@code ldLibraryPath} entries, ld.so.conf folders, the
     * usual folders, then nvidia-* wheel folders of the site-packages found from {@code env} and the usual places.
     * Only existing paths are returned, each once.
     */
    public static List<Path> defaultSearchPath(String override, String ldLibraryPath, Map<String, String> env) {
        Set<Path> out = new LinkedHashSet<>();
        addPathList(out, override);
        addPathList(out, ldLibraryPath);
        for (Path p : ldSoConfFolders(Path.of("/etc/ld.so.conf"), 0)) addExisting(out, p);
        for (String s : List.of("/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib", "/lib/x86_64-linux-gnu",
                "/usr/local/nvidia/lib64", "/usr/local/nvidia/lib", "/usr/lib/wsl/lib", "/usr/local/cuda/lib64",
                "/usr/local/cuda/targets/x86_64-linux/lib", "/opt/cuda/lib64")) {
            addExisting(out, Path.of(s));
        }
        for (String var : List.of("CUDA_HOME", "CUDA_PATH", "CUDNN_HOME")) {
            String v = env.get(var);
            if (v != null && !v.isBlank()) {
                addExisting(out, Path.of(v, "lib64"));
                addExisting(out, Path.of(v, "lib"));
            }
        }
        for (Path site : sitePackages(env)) out.addAll(nvidiaWheelFolders(site));
        return new ArrayList<>(out);
    }

    /** Folders holding shared libraries inside {@code sitePackages/nvidia} (nvidia-cublas, nvidia-cudnn-cu12, ...). */
    public static List<Path> nvidiaWheelFolders(Path sitePackages) {
        Path nvidia = sitePackages.resolve("nvidia");
        if (!Files.isDirectory(nvidia)) return List.of();
        try (Stream<Path> s = Files.walk(nvidia, 3)) {
            return s.filter(p -> p.getFileName().toString().equals("lib") && Files.isDirectory(p)).sorted().toList();
        } catch (IOException | java.io.UncheckedIOException e) {
            return List.of();
        }
    }

    /** Candidate site-packages folders: from the environment first, then the usual system and user places. */
    static List<Path> sitePackages(Map<String, String> env) {
        Set<Path> out = new LinkedHashSet<>();
        String pythonPath = env.get("PYTHONPATH");
        if (pythonPath != null) {
            for (String s : pythonPath.split(java.io.File.pathSeparator)) if (!s.isBlank()) addExisting(out, Path.of(s));
        }
        List<Path> prefixes = new ArrayList<>();
        for (String var : List.of("VIRTUAL_ENV", "CONDA_PREFIX")) {
            String v = env.get(var);
            if (v != null && !v.isBlank()) prefixes.add(Path.of(v, "lib"));
        }
        String home = env.get("HOME");
        if (home != null) prefixes.add(Path.of(home, ".local", "lib"));
        prefixes.add(Path.of("/usr/local/lib"));
        prefixes.add(Path.of("/usr/lib"));
        for (Path opt : list(Path.of("/opt"))) {
            prefixes.add(opt.resolve(".venv").resolve("lib"));
            prefixes.add(opt.resolve("venv").resolve("lib"));
            prefixes.add(opt.resolve("lib"));
        }
        for (Path prefix : prefixes) {
            for (Path py : list(prefix)) {
                if (!py.getFileName().toString().startsWith("python3")) continue;
                addExisting(out, py.resolve("site-packages"));
                addExisting(out, py.resolve("dist-packages"));
            }
        }
        addExisting(out, Path.of("/usr/lib/python3/dist-packages"));
        return new ArrayList<>(out);
    }

    /** Folders named in an ld.so.conf file, following {@code include} globs (depth-limited). */
    static List<Path> ldSoConfFolders(Path conf, int depth) {
        List<Path> out = new ArrayList<>();
        if (depth > 3 || !Files.isRegularFile(conf)) return out;
        List<String> lines;
        try {
            lines = Files.readAllLines(conf);
        } catch (IOException e) {
            return out;
        }
        for (String raw : lines) {
            String line = raw.replaceFirst("#.*", "").trim();
            if (line.isEmpty()) continue;
            if (line.startsWith("include ")) {
                String pattern = line.substring("include ".length()).trim();
                Path abs = pattern.startsWith("/") ? Path.of(pattern) : conf.resolveSibling(pattern);
                Path dir = abs.getParent();
                String glob = abs.getFileName().toString();
                try (var ds = Files.newDirectoryStream(dir, glob)) {
                    List<Path> files = new ArrayList<>();
                    ds.forEach(files::add);
                    files.sort(null);
                    for (Path f : files) out.addAll(ldSoConfFolders(f, depth + 1));
                } catch (IOException | RuntimeException e) {
                    // unreadable include: skip it
                }
            } else if (line.startsWith("/")) {
                out.add(Path.of(line));
            }
        }
        return out;
    }

    private static void addPathList(Set<Path> out, String list) {
        if (list == null) return;
        for (String s : list.split(java.io.File.pathSeparator)) {
            if (!s.isBlank()) addExisting(out, Path.of(s.trim()));
        }
    }

    private static void addExisting(Set<Path> out, Path p) {
        if (Files.exists(p)) out.add(p.toAbsolutePath().normalize());
    }

    private static List<Path> list(Path dir) {
        if (!Files.isDirectory(dir)) return List.of();
        try (Stream<Path> s = Files.list(dir)) {
            return s.sorted().toList();
        } catch (IOException | java.io.UncheckedIOException e) {
            return List.of();
        }
    }
}
