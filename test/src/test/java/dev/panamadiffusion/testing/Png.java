package dev.panamadiffusion.testing;

import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.CRC32;
import javax.imageio.ImageIO;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

/** PNG reading for tests, independent of the runtime's writer: text chunks by hand, pixels by ImageIO. */
public final class Png {
    private Png() {}

    /** tEXt chunks by keyword, checking every chunk's CRC on the way. */
    public static Map<String, String> textChunks(byte[] png) {
        Map<String, String> out = new LinkedHashMap<>();
        ByteBuffer b = ByteBuffer.wrap(png, 8, png.length - 8);
        while (b.hasRemaining()) {
            int len = b.getInt();
            byte[] type = new byte[4];
            b.get(type);
            byte[] data = new byte[len];
            b.get(data);
            CRC32 crc = new CRC32();
            crc.update(type);
            crc.update(data);
            assertEquals((int) crc.getValue(), b.getInt(), "CRC of " + new String(type, StandardCharsets.US_ASCII));
            if (new String(type, StandardCharsets.US_ASCII).equals("tEXt")) {
                int nul = 0;
                while (data[nul] != 0) nul++;
                out.put(new String(data, 0, nul, StandardCharsets.ISO_8859_1),
                        new String(data, nul + 1, data.length - nul - 1, StandardCharsets.ISO_8859_1));
            }
        }
        return out;
    }

    /** The pixels as interleaved 8-bit RGB, row by row (the layout of {@code Rgb8Image.rgb()}). */
    public static byte[] rgb(byte[] png) {
        BufferedImage img;
        try {
            img = ImageIO.read(new ByteArrayInputStream(png));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        assertNotNull(img, "not a PNG");
        int w = img.getWidth(), h = img.getHeight();
        byte[] out = new byte[3 * w * h];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int p = img.getRGB(x, y), i = 3 * (y * w + x);
                out[i] = (byte) (p >> 16);
                out[i + 1] = (byte) (p >> 8);
                out[i + 2] = (byte) p;
            }
        }
        return out;
    }

    /**
     * Largest difference of the PNG's 8-bit pixels from a recorded image in [0, 1], planar [1, 3, H, W] as diffusers'
     * {@code image_01} files hold it (rounded as numpy's {@code round(x * 255)} after clipping).
     */
    /**
     * The numbered PNGs {@code stem-1.png} … {@code stem-N.png} in {@code dir} each within {@code levels} of their image
     * in {@code images} (diffusers' {@code image_01}, [N, 3, H, W] in [0, 1]).
     */
    public static void assertBatchWithin(java.nio.file.Path dir, String stem, float[] images, int n, int levels, String what)
            throws java.io.IOException {
        int plane = images.length / n;
        for (int i = 0; i < n; i++) {
            byte[] png = java.nio.file.Files.readAllBytes(dir.resolve(stem + "-" + (i + 1) + ".png"));
            int diff = maxPixelDiff(png, java.util.Arrays.copyOfRange(images, i * plane, (i + 1) * plane));
            org.junit.jupiter.api.Assertions.assertTrue(diff <= levels, "image " + (i + 1) + " vs " + what + ": " + diff);
        }
    }

    public static int maxPixelDiff(byte[] png, float[] planar) {
        byte[] rgb = rgb(png);
        int plane = rgb.length / 3, max = 0;
        assertEquals(3 * plane, planar.length, "pixels in the PNG vs the recorded image");
        for (int c = 0; c < 3; c++) {
            for (int p = 0; p < plane; p++) {
                int expected = (int) Math.rint(Math.min(1f, Math.max(0f, planar[c * plane + p])) * 255f);
                max = Math.max(max, Math.abs((rgb[3 * p + c] & 0xff) - expected));
            }
        }
        return max;
    }
}
