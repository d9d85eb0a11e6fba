package dev.panamadiffusion.image;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.Deflater;

/**
 * Writes 8-bit RGB PNG files with the JDK alone (Deflater for IDAT, CRC32 for chunk checksums), with optional
 * {@code tEXt} chunks such as {@code parameters}, which A1111-style tools read as the generation settings.
 */
public final class PngWriter {
    private static final byte[] SIGNATURE = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

    private PngWriter() {}

    /** Writes {@code image} to {@code file} with the given tEXt entries (keyword → Latin-1 text), in order. */
    public static void write(Path file, Rgb8Image image, Map<String, String> text) throws IOException {
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) Files.createDirectories(parent);
        Files.write(file, encode(image, text));
    }

    /** The bytes of a PNG file holding {@code image} and the tEXt entries. */
    public static byte[] encode(Rgb8Image image, Map<String, String> text) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(SIGNATURE);
        byte[] ihdr = new byte[13];
        putInt(ihdr, 0, image.width());
        putInt(ihdr, 4, image.height());
        ihdr[8] = 8;   // bit depth
        ihdr[9] = 2;   // colour type: truecolour (RGB)
        ihdr[10] = 0;  // compression: deflate
        ihdr[11] = 0;  // filter method 0
        ihdr[12] = 0;  // no interlace
        chunk(out, "IHDR", ihdr);
        for (Map.Entry<String, String> e : (text == null ? Map.<String, String>of() : text).entrySet()) {
            chunk(out, "tEXt", textChunk(e.getKey(), e.getValue()));
        }
        chunk(out, "IDAT", deflate(image));
        chunk(out, "IEND", new byte[0]);
        return out.toByteArray();
    }

    /** tEXt data: keyword (1-79 Latin-1 chars), NUL, text (Latin-1; characters outside it become '?'). */
    private static byte[] textChunk(String keyword, String text) {
        if (keyword.isEmpty() || keyword.length() > 79 || !isLatin1(keyword) || keyword.indexOf(0) >= 0) {
            throw new IllegalArgumentException("invalid PNG tEXt keyword '" + keyword + "'");
        }
        byte[] k = keyword.getBytes(StandardCharsets.ISO_8859_1);
        byte[] t = text.replace('\0', ' ').getBytes(StandardCharsets.ISO_8859_1);
        byte[] data = new byte[k.length + 1 + t.length];
        System.arraycopy(k, 0, data, 0, k.length);
        System.arraycopy(t, 0, data, k.length + 1, t.length);
        return data;
    }

    private static boolean isLatin1(String s) {
        for (int i = 0; i < s.length(); i++) if (s.charAt(i) > 0xff) return false;
        return true;
    }

    /** Scanlines, each prefixed by filter type 0 (None), deflated as one zlib stream. */
    private static byte[] deflate(Rgb8Image image) {
        int rowBytes = image.width() * 3;
        byte[] raw = new byte[(rowBytes + 1) * image.height()];
        byte[] rgb = image.rgb();
        for (int y = 0; y < image.height(); y++) {
            int dst = y * (rowBytes + 1);
            raw[dst] = 0;
            System.arraycopy(rgb, y * rowBytes, raw, dst + 1, rowBytes);
        }
        Deflater deflater = new Deflater(Deflater.DEFAULT_COMPRESSION);
        try {
            deflater.setInput(raw);
            deflater.finish();
            ByteArrayOutputStream z = new ByteArrayOutputStream(raw.length / 2 + 64);
            byte[] buf = new byte[64 * 1024];
            while (!deflater.finished()) {
                int n = deflater.deflate(buf);
                z.write(buf, 0, n);
            }
            return z.toByteArray();
        } finally {
            deflater.end();
        }
    }

    /** Length, type, data, CRC32 over type and data. */
    private static void chunk(OutputStream out, String type, byte[] data) {
        byte[] typeBytes = type.getBytes(StandardCharsets.US_ASCII);
        byte[] head = new byte[8];
        putInt(head, 0, data.length);
        System.arraycopy(typeBytes, 0, head, 4, 4);
        CRC32 crc = new CRC32();
        crc.update(typeBytes);
        crc.update(data);
        byte[] tail = new byte[4];
        putInt(tail, 0, (int) crc.getValue());
        try {
            out.write(head);
            out.write(data);
            out.write(tail);
        } catch (IOException e) {
            throw new IllegalStateException(e); // ByteArrayOutputStream does not throw
        }
    }

    private static void putInt(byte[] b, int at, int v) {
        b[at] = (byte) (v >>> 24);
        b[at + 1] = (byte) (v >>> 16);
        b[at + 2] = (byte) (v >>> 8);
        b[at + 3] = (byte) v;
    }

    /** A single "parameters" entry, as A1111 writes it. */
    public static Map<String, String> parameters(String text) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("parameters", text);
        return m;
    }
}
