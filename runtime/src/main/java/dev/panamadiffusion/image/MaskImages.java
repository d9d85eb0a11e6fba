package dev.panamadiffusion.image;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;

/**
 * Inpainting masks in the forms the APIs take them, turned into the runtime's: an 8-bit RGB picture, white (grey
 * ≥ 50%) where to repaint ({@link dev.panamadiffusion.pipeline.InitImage}).
 */
public final class MaskImages {
    private MaskImages() {}

    /** {@code mask} with every channel inverted (255 − v): AUTOMATIC1111's {@code inpainting_mask_invert}. */
    public static Rgb8Image inverted(Rgb8Image mask) {
        byte[] rgb = mask.rgb().clone();
        for (int i = 0; i < rgb.length; i++) rgb[i] = (byte) (255 - (rgb[i] & 0xff));
        return new Rgb8Image(mask.width(), mask.height(), rgb);
    }

    /**
     * OpenAI's edit mask: the picture in {@code bytes} (a file's contents), white where it is fully transparent
     * (alpha 0), black elsewhere. A picture without an alpha channel is an {@link IOException}; one with no fully
     * transparent pixel gives an all-black mask (nothing to edit), which the caller may refuse ({@link #isEmpty}).
     */
    public static Rgb8Image fromTransparency(byte[] bytes) throws IOException {
        BufferedImage img;
        try {
            img = ImageIO.read(new ByteArrayInputStream(bytes));
        } catch (IOException | RuntimeException e) {
            throw new IOException("cannot be read as an image: " + e.getMessage(), e);
        }
        if (img == null) throw new IOException("is not an image this runtime reads (PNG, JPEG, BMP, GIF)");
        if (!img.getColorModel().hasAlpha()) throw new IOException("has no alpha channel (transparent pixels mark the area to edit)");
        int w = img.getWidth(), h = img.getHeight();
        byte[] rgb = new byte[w * h * 3];
        int[] row = new int[w];
        for (int y = 0; y < h; y++) {
            img.getRGB(0, y, w, 1, row, 0, w);
            for (int x = 0; x < w; x++) {
                byte v = (row[x] >>> 24) == 0 ? (byte) 255 : 0;
                int i = (y * w + x) * 3;
                rgb[i] = v;
                rgb[i + 1] = v;
                rgb[i + 2] = v;
            }
        }
        return new Rgb8Image(w, h, rgb);
    }

    /** Whether {@code mask} marks nothing to repaint (no pixel white enough). */
    public static boolean isEmpty(Rgb8Image mask) {
        byte[] rgb = mask.rgb();
        for (int p = 0; p < rgb.length / 3; p++) {
            int grey = ((rgb[3 * p] & 0xff) * 19595 + (rgb[3 * p + 1] & 0xff) * 38470 + (rgb[3 * p + 2] & 0xff) * 7471 + 0x8000) >> 16;
            if (grey >= 128) return false;
        }
        return true;
    }

    /** Whether every pixel of {@code mask} is black (grey 0): {@link MaskCrop#getCropRegion} finds no region. */
    public static boolean isBlank(Rgb8Image mask) {
        for (int p = 0; p < mask.width() * mask.height(); p++) if (MaskCrop.grey(mask.rgb(), p) != 0) return false;
        return true;
    }
}
