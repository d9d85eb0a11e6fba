package dev.panamadiffusion.pipeline;

/**
 * Which image sizes a model can generate. The VAE turns {@code vaeScaleFactor}×{@code vaeScaleFactor} pixels into one
 * latent, and the UNet halves the latent {@code unetDownsamplings} times and later upsamples by exactly 2x, so a pixel
 * size must be a multiple of {@code vaeScaleFactor · 2^unetDownsamplings} (64 for Stable Diffusion 1.x and 2.x), and
 * always of 8, as diffusers requires.
 */
public record SizeRule(int vaeScaleFactor, int unetDownsamplings) {
    /** Only the multiple of 8 that every diffusers pipeline requires; used before a model is known. */
    public static final SizeRule GENERIC = new SizeRule(8, 0);

    public SizeRule {
        if (vaeScaleFactor < 1 || unetDownsamplings < 0 || unetDownsamplings > 16) {
            throw new IllegalArgumentException("size rule vae scale " + vaeScaleFactor + ", " + unetDownsamplings + " downsamplings");
        }
    }

    /** The pixel sizes that work are the multiples of this. */
    public int multiple() {
        int model = vaeScaleFactor << unetDownsamplings;
        return lcm(8, model);
    }

    /**
     * Null when {@code value} is a usable width or height, else why not, worded to follow the field's name
     * ("must be positive, got 0", "500 is not a multiple of 64 (try 448 or 512): …").
     */
    public String check(int value) {
        if (value <= 0) return "must be positive, got " + value;
        int m = multiple();
        if (value % m == 0) return null;
        int lower = value / m * m;
        String suggestion = lower == 0 ? Integer.toString(m) : lower + " or " + (lower + m);
        String msg = value + " is not a multiple of " + m + " (try " + suggestion + ")";
        int model = vaeScaleFactor << unetDownsamplings;
        if (unetDownsamplings > 0 && value % model != 0) { // the model's own constraint is the one violated
            msg += ": the VAE turns " + vaeScaleFactor + "x" + vaeScaleFactor + " pixels into one latent and the UNet halves the"
                    + " latent " + unetDownsamplings + (unetDownsamplings == 1 ? " time" : " times")
                    + " and upsamples by exactly 2x, so a side / " + vaeScaleFactor + " must be divisible by "
                    + (1 << unetDownsamplings);
        }
        return msg;
    }

    private static int lcm(int a, int b) {
        int x = a, y = b;
        while (y != 0) {
            int t = x % y;
            x = y;
            y = t;
        }
        return a / x * b;
    }
}
