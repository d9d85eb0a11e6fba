package dev.panamadiffusion.image;

import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.zip.CRC32;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PngWriterTest {
    record Chunk(String type, byte[] data, boolean crcOk) {}

    /** Parses a PNG file into chunks, checking the signature and every CRC independently of the writer. */
    static List<Chunk> chunks(byte[] png) {
        byte[] sig = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
        for (int i = 0; i < 8; i++) assertEquals(sig[i], png[i], "signature byte " + i);
        ByteBuffer b = ByteBuffer.wrap(png, 8, png.length - 8);
        List<Chunk> out = new ArrayList<>();
        while (b.hasRemaining()) {
            int len = b.getInt();
            byte[] type = new byte[4];
            b.get(type);
            byte[] data = new byte[len];
            b.get(data);
            int crc = b.getInt();
            CRC32 c = new CRC32();
            c.update(type);
            c.update(data);
            out.add(new Chunk(new String(type, StandardCharsets.US_ASCII), data, (int) c.getValue() == crc));
        }
        return out;
    }

    private static Rgb8Image randomImage(int w, int h, long seed) {
        byte[] rgb = new byte[w * h * 3];
        new Random(seed).nextBytes(rgb);
        return new Rgb8Image(w, h, rgb);
    }

    @Test
    void imageIoReadsBackTheExactPixels() throws IOException {
        Rgb8Image img = randomImage(37, 19, 1);
        byte[] png = PngWriter.encode(img, PngWriter.parameters("a cat\nSteps: 20"));
        BufferedImage read = ImageIO.read(new ByteArrayInputStream(png));
        assertNotNull(read, "ImageIO could not decode the PNG");
        assertEquals(37, read.getWidth());
        assertEquals(19, read.getHeight());
        for (int y = 0; y < 19; y++) {
            for (int x = 0; x < 37; x++) {
                int[] p = img.pixel(x, y);
                int expected = (p[0] << 16) | (p[1] << 8) | p[2];
                assertEquals(expected, read.getRGB(x, y) & 0xffffff, "pixel " + x + "," + y);
            }
        }
    }

    @Test
    void chunksHaveValidCrcsAndTheParametersText() throws IOException {
        Rgb8Image img = randomImage(8, 8, 2);
        String params = "a photo\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, CFG scale: 7.5, Seed: 42, Size: 8x8";
        Map<String, String> text = new LinkedHashMap<>();
        text.put("parameters", params);
        text.put("Software", "Panama Diffusion");
        List<Chunk> chunks = chunks(PngWriter.encode(img, text));
        List<String> types = chunks.stream().map(Chunk::type).toList();
        assertEquals(List.of("IHDR", "tEXt", "tEXt", "IDAT", "IEND"), types);
        for (Chunk c : chunks) assertTrue(c.crcOk(), "CRC of " + c.type());
        ByteBuffer ihdr = ByteBuffer.wrap(chunks.get(0).data());
        assertEquals(8, ihdr.getInt());
        assertEquals(8, ihdr.getInt());
        assertEquals(8, ihdr.get());  // bit depth
        assertEquals(2, ihdr.get());  // RGB
        byte[] t = chunks.get(1).data();
        int nul = 0;
        while (t[nul] != 0) nul++;
        assertEquals("parameters", new String(t, 0, nul, StandardCharsets.ISO_8859_1));
        assertEquals(params, new String(t, nul + 1, t.length - nul - 1, StandardCharsets.ISO_8859_1));
    }

    @Test
    void writesAFileThatImageIoReads(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("sub/out.png");
        PngWriter.write(f, randomImage(16, 16, 3), PngWriter.parameters("x"));
        BufferedImage read = ImageIO.read(f.toFile());
        assertEquals(16, read.getWidth());
        assertTrue(Files.size(f) > 16 * 16);
    }

    @Test
    void toRgb8ClampsAndRoundsLikeDiffusers() {
        // [3, 1, 4]: R plane, G plane, B plane
        float[] v = {
                0f, 1f, -0.5f, 2f,                 // R
                0.5f, 0.501f, 1f / 255f * 2.5f, Float.NaN, // G: 127.5 → 128 (half to even), 127.755 → 128, 2.5 → 2
                0.25f, 0.75f, 0.1f, 0.9f};         // B: 63.75 → 64, 191.25 → 191, 25.5 → 26, 229.5 → 230
        Rgb8Image img = Images.toRgb8(Tensor.fromFloats(v, 3, 1, 4));
        assertArrayEquals(new int[] {0, 128, 64}, img.pixel(0, 0));
        assertArrayEquals(new int[] {255, 128, 191}, img.pixel(1, 0));
        assertArrayEquals(new int[] {0, 2, (int) Math.rint(0.1f * 255f)}, img.pixel(2, 0));
        assertArrayEquals(new int[] {255, 0, (int) Math.rint(0.9f * 255f)}, img.pixel(3, 0));
    }

    @Test
    void rejectsBadShapesAndKeywords() {
        assertThrows(IllegalArgumentException.class, () -> Images.toRgb8(Tensor.zeros(4, 2, 2)));
        assertThrows(IllegalArgumentException.class, () -> new Rgb8Image(2, 2, new byte[5]));
        assertThrows(IllegalArgumentException.class,
                () -> PngWriter.encode(randomImage(1, 1, 0), Map.of("", "x")));
    }
}
