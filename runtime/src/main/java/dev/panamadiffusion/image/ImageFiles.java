package dev.panamadiffusion.image;

import javax.imageio.ImageIO;
import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.Raster;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Reads pictures (PNG, also JPEG, BMP, GIF: what the JDK's {@code ImageIO} reads) as 8-bit RGB, as diffusers' image
 * processor takes a PIL image {@code .convert("RGB")}: alpha is dropped (not blended), grey and palette images become
 * RGB, 16-bit channels keep their top 8 bits.
 */
public final class ImageFiles {
    private ImageFiles() {}

    /** The picture in {@code file}; a missing, unreadable or non-image file is an {@link IOException} saying which. */
    public static Rgb8Image readRgb(Path file) throws IOException {
        if (!Files.isRegularFile(file)) throw new IOException(file + " is not a file");
        BufferedImage img;
        try (InputStream in = Files.newInputStream(file)) {
            img = ImageIO.read(in);
        } catch (IOException | RuntimeException e) {
            throw new IOException(file + " cannot be read as an image: " + e.getMessage(), e);
        }
        if (img == null) throw new IOException(file + " is not an image this runtime reads (PNG, JPEG, BMP, GIF)");
        return toRgb8(img);
    }

    /** The picture encoded in {@code bytes} (a file's contents); what is not an image is an {@link IOException}. */
    public static Rgb8Image readRgb(byte[] bytes) throws IOException {
        BufferedImage img;
        try {
            img = ImageIO.read(new java.io.ByteArrayInputStream(bytes));
        } catch (IOException | RuntimeException e) {
            throw new IOException("cannot be read as an image: " + e.getMessage(), e);
        }
        if (img == null) throw new IOException("is not an image this runtime reads (PNG, JPEG, BMP, GIF)");
        return toRgb8(img);
    }

    /** The image's pixels as 8-bit RGB, alpha dropped. */
    public static Rgb8Image toRgb8(BufferedImage img) {
        int w = img.getWidth(), h = img.getHeight();
        byte[] rgb = new byte[w * h * 3];
        if (img.getColorModel().getColorSpace().getType() == ColorSpace.TYPE_GRAY) {
            // the stored grey values, replicated (PIL's convert("RGB")); getRGB would map the JDK's linear grey to sRGB
            Raster r = img.getRaster();
            int shift = Math.max(0, r.getSampleModel().getSampleSize(0) - 8);
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    byte v = (byte) (r.getSample(x, y, 0) >> shift);
                    int i = (y * w + x) * 3;
                    rgb[i] = v;
                    rgb[i + 1] = v;
                    rgb[i + 2] = v;
                }
            }
            return new Rgb8Image(w, h, rgb);
        }
        int[] row = new int[w];
        for (int y = 0; y < h; y++) {
            img.getRGB(0, y, w, 1, row, 0, w); // sRGB ARGB; for sRGB images the stored values themselves
            for (int x = 0; x < w; x++) {
                int p = row[x], i = (y * w + x) * 3;
                rgb[i] = (byte) (p >> 16);
                rgb[i + 1] = (byte) (p >> 8);
                rgb[i + 2] = (byte) p;
            }
        }
        return new Rgb8Image(w, h, rgb);
    }
}
