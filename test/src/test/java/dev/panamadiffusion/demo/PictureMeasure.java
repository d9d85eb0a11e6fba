package dev.panamadiffusion.demo;

import dev.panamadiffusion.image.Rgb8Image;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Reads a demo-model picture by measurement: the background colour (median of the border pixels), the object (the
 * largest 4-connected region of pixels more than {@link #OBJECT_DISTANCE} from the background), its colour (median
 * of the region's inner pixels) and its shape (fill ratio of the bounding box: square, circle; below that the ratio
 * of pixels in the bottom half to the top half tells a triangle from a star). Colours are named by the nearest base
 * colour of the data set.
 *
 * <p>{@code tools/demo-model/measure.py} is the same measure in numpy; on 1,000 pictures of the procedural data set it
 * reads the colours right for 99.8% and the shape for 99.7%, which is where the thresholds come from.
 */
record PictureMeasure(String background, String object, String shape, double fill, double bottomToTop) {
    /** The data set's base colours (tools/demo-model/dataset.py, COLOURS). */
    static final Map<String, int[]> PALETTE = new LinkedHashMap<>();

    static {
        PALETTE.put("red", new int[] {215, 30, 35});
        PALETTE.put("green", new int[] {35, 165, 60});
        PALETTE.put("blue", new int[] {35, 70, 215});
        PALETTE.put("yellow", new int[] {240, 215, 40});
        PALETTE.put("orange", new int[] {245, 135, 25});
        PALETTE.put("purple", new int[] {135, 50, 175});
        PALETTE.put("white", new int[] {242, 242, 242});
        PALETTE.put("black", new int[] {18, 18, 18});
    }

    static final double OBJECT_DISTANCE = 45;
    static final double SQUARE_FILL = 0.88;
    static final double CIRCLE_FILL = 0.66;
    static final double TRIANGLE_BOTTOM = 1.8;

    static PictureMeasure of(Rgb8Image img) {
        int w = img.width(), h = img.height();
        byte[] rgb = img.rgb();
        int borderCount = 2 * w + 2 * (h - 2);
        double[][] border = new double[3][borderCount];
        int k = 0;
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                if (y != 0 && y != h - 1 && x != 0 && x != w - 1) continue;
                for (int c = 0; c < 3; c++) border[c][k] = rgb[(y * w + x) * 3 + c] & 0xff;
                k++;
            }
        }
        double[] bg = {median(border[0], k), median(border[1], k), median(border[2], k)};
        boolean[] far = new boolean[w * h];
        for (int p = 0; p < w * h; p++) {
            double d = 0;
            for (int c = 0; c < 3; c++) {
                double e = (rgb[p * 3 + c] & 0xff) - bg[c];
                d += e * e;
            }
            far[p] = Math.sqrt(d) > OBJECT_DISTANCE;
        }
        boolean[] object = largestComponent(far, w, h);
        int count = 0, minX = w, maxX = -1, minY = h, maxY = -1;
        for (int p = 0; p < w * h; p++) {
            if (!object[p]) continue;
            count++;
            minX = Math.min(minX, p % w);
            maxX = Math.max(maxX, p % w);
            minY = Math.min(minY, p / w);
            maxY = Math.max(maxY, p / w);
        }
        if (count < 4) return new PictureMeasure(nearest(bg), "none", "none", 0, 0);
        // the object's colour from pixels whose 4 neighbours are all in the object (no soft edge), if there are some
        double[][] inner = new double[3][count];
        double[][] all = new double[3][count];
        int n = 0, m = 0;
        double top = 0, bottom = 0, mid = (minY + maxY) / 2.0;
        for (int p = 0; p < w * h; p++) {
            if (!object[p]) continue;
            int x = p % w, y = p / w;
            for (int c = 0; c < 3; c++) all[c][m] = rgb[p * 3 + c] & 0xff;
            m++;
            boolean core = x > 0 && y > 0 && x < w - 1 && y < h - 1 && object[p - 1] && object[p + 1] && object[p - w] && object[p + w];
            if (core) {
                for (int c = 0; c < 3; c++) inner[c][n] = rgb[p * 3 + c] & 0xff;
                n++;
            }
            if (y > mid) bottom++;
            else if (y < mid) top++;
            else { bottom += 0.5; top += 0.5; }
        }
        double[][] src = n >= 4 ? inner : all;
        int len = n >= 4 ? n : m;
        double[] colour = {median(src[0], len), median(src[1], len), median(src[2], len)};
        double fill = count / (double) ((maxX - minX + 1) * (maxY - minY + 1));
        double ratio = bottom / Math.max(1, top);
        String shape = fill >= SQUARE_FILL ? "square" : fill >= CIRCLE_FILL ? "circle" : ratio >= TRIANGLE_BOTTOM ? "triangle" : "star";
        return new PictureMeasure(nearest(bg), nearest(colour), shape, fill, ratio);
    }

    /** The base colour nearest to {@code rgb} (Euclidean in RGB). */
    static String nearest(double[] rgb) {
        String best = null;
        double bestD = Double.MAX_VALUE;
        for (Map.Entry<String, int[]> e : PALETTE.entrySet()) {
            double d = 0;
            for (int c = 0; c < 3; c++) d += (rgb[c] - e.getValue()[c]) * (rgb[c] - e.getValue()[c]);
            if (d < bestD) {
                bestD = d;
                best = e.getKey();
            }
        }
        return best;
    }

    /** numpy's median of the first {@code n} values (the mean of the two middle ones for even n). */
    private static double median(double[] v, int n) {
        double[] s = Arrays.copyOf(v, n);
        Arrays.sort(s);
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    }

    private static boolean[] largestComponent(boolean[] mask, int w, int h) {
        int[] label = new int[w * h];
        int best = 0, bestSize = 0, next = 0;
        ArrayDeque<Integer> stack = new ArrayDeque<>();
        for (int start = 0; start < w * h; start++) {
            if (!mask[start] || label[start] != 0) continue;
            int id = ++next, size = 0;
            label[start] = id;
            stack.push(start);
            while (!stack.isEmpty()) {
                int p = stack.pop(), x = p % w, y = p / w;
                size++;
                int[] nb = {x > 0 ? p - 1 : -1, x < w - 1 ? p + 1 : -1, y > 0 ? p - w : -1, y < h - 1 ? p + w : -1};
                for (int q : nb) {
                    if (q >= 0 && mask[q] && label[q] == 0) {
                        label[q] = id;
                        stack.push(q);
                    }
                }
            }
            if (size > bestSize) {
                bestSize = size;
                best = id;
            }
        }
        boolean[] out = new boolean[w * h];
        for (int p = 0; p < w * h; p++) out[p] = best != 0 && label[p] == best;
        return out;
    }
}
