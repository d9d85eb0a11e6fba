package dev.panamadiffusion.io;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Where the project's own demo model ({@code models/pdiff-demo} in the checkout: a small Stable Diffusion model
 * trained by {@code tools/demo-model/train.py} on pictures of coloured shapes) lies, for commands run without a model
 * folder. The {@code pdiff} launcher passes the checkout as {@code -Dpd.home}; {@code -Dpd.demo.model} names the
 * folder itself.
 */
public final class DemoModel {
    /** The checkout's root, set by the {@code pdiff} launcher. */
    public static final String HOME_PROPERTY = "pd.home";
    /** The demo model's folder itself; overrides {@link #HOME_PROPERTY}. */
    public static final String MODEL_PROPERTY = "pd.demo.model";
    /** The demo model's folder relative to the checkout's root. */
    public static final String RELATIVE_PATH = "models/pdiff-demo";

    private DemoModel() {}

    /**
     * The demo model's folder: {@code -Dpd.demo.model}, else {@code <pd.home>/models/pdiff-demo}, else
     * {@code models/pdiff-demo} under the working directory. An {@link IllegalArgumentException} says where it looked
     * when the folder is not there.
     */
    public static Path locate() {
        String model = System.getProperty(MODEL_PROPERTY);
        String home = System.getProperty(HOME_PROPERTY);
        Path dir = model != null ? Path.of(model) : home != null ? Path.of(home).resolve(RELATIVE_PATH) : Path.of(RELATIVE_PATH);
        if (!Files.isRegularFile(dir.resolve(ModelFolder.INDEX))) {
            throw new IllegalArgumentException("no model folder given, and the demo model is not at " + dir.toAbsolutePath().normalize()
                    + " (it ships with the checkout in " + RELATIVE_PATH + "; set -D" + HOME_PROPERTY + "=CHECKOUT or -D"
                    + MODEL_PROPERTY + "=DIR, or name a diffusers Stable Diffusion folder with --model DIR)");
        }
        return dir;
    }
}
