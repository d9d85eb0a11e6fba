package dev.panamadiffusion.image;

/** An 8-bit RGB image: {@code rgb} holds width × height × 3 bytes, row-major, interleaved R, G, B. */
public record Rgb8Image(int width, int height, byte[] rgb) {
    public Rgb8Image {
        if (width <= 0 || height <= 0) throw new IllegalArgumentException("image size " + width + "x" + height);
        if (rgb.length != (long) width * height * 3) {
            throw new IllegalArgumentException(rgb.length + " bytes for a " + width + "x" + height + " RGB image");
        }
    }

    /** Red, green, blue of pixel (x, y) as 0..255 values. */
    public int[] pixel(int x, int y) {
        int i = (y * width + x) * 3;
        return new int[] {rgb[i] & 0xff, rgb[i + 1] & 0xff, rgb[i + 2] & 0xff};
    }
}
