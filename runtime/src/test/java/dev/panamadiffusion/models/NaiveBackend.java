package dev.panamadiffusion.models;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.tensor.DType;
import dev.panamadiffusion.tensor.Tensor;

import java.util.Arrays;

/**
 * The {@link Backend} ops written as plainly as possible: one loop nest per op, double accumulators, host f32
 * tensors. Slow; for the model parity tests, not for use.
 */
public final class NaiveBackend implements Backend {

    @Override public String name() { return "naive"; }

    @Override public Tensor upload(Tensor host) { return host.to(DType.F32); }

    @Override public Tensor download(Tensor t) { return t.to(DType.F32); }

    private static float[] f(Tensor t) { return t.toFloatArray(); }

    private static Tensor out(float[] v, long... shape) { return Tensor.fromFloats(v, shape); }

    @Override
    public Tensor linear(Tensor x, Tensor weight, Tensor bias) {
        int in = (int) weight.dim(1), outF = (int) weight.dim(0);
        if (x.dim(-1) != in) throw new IllegalArgumentException("linear " + x + " x " + weight);
        float[] xv = f(x), wv = f(weight), bv = bias == null ? null : f(bias);
        int rows = xv.length / in;
        float[] o = new float[rows * outF];
        for (int r = 0; r < rows; r++) {
            for (int j = 0; j < outF; j++) {
                double s = bv == null ? 0 : bv[j];
                for (int i = 0; i < in; i++) s += (double) xv[r * in + i] * wv[j * in + i];
                o[r * outF + j] = (float) s;
            }
        }
        long[] shape = x.shape();
        shape[shape.length - 1] = outF;
        return out(o, shape);
    }

    @Override
    public Tensor conv2d(Tensor x, Tensor weight, Tensor bias, int stride, int padding) {
        int n = (int) x.dim(0), c = (int) x.dim(1), h = (int) x.dim(2), w = (int) x.dim(3);
        int oc = (int) weight.dim(0), kh = (int) weight.dim(2), kw = (int) weight.dim(3);
        if (weight.dim(1) != c) throw new IllegalArgumentException("conv2d " + x + " with " + weight);
        int oh = (h + 2 * padding - kh) / stride + 1, ow = (w + 2 * padding - kw) / stride + 1;
        float[] xv = f(x), wv = f(weight), bv = bias == null ? null : f(bias);
        float[] o = new float[n * oc * oh * ow];
        for (int b = 0; b < n; b++)
            for (int k = 0; k < oc; k++)
                for (int y = 0; y < oh; y++)
                    for (int z = 0; z < ow; z++) {
                        double s = bv == null ? 0 : bv[k];
                        for (int ci = 0; ci < c; ci++)
                            for (int i = 0; i < kh; i++)
                                for (int j = 0; j < kw; j++) {
                                    int iy = y * stride - padding + i, iz = z * stride - padding + j;
                                    if (iy < 0 || iy >= h || iz < 0 || iz >= w) continue;
                                    s += (double) xv[((b * c + ci) * h + iy) * w + iz] * wv[((k * c + ci) * kh + i) * kw + j];
                                }
                        o[((b * oc + k) * oh + y) * ow + z] = (float) s;
                    }
        return out(o, n, oc, oh, ow);
    }

    @Override
    public Tensor pad2d(Tensor x, int left, int right, int top, int bottom) {
        int n = (int) x.dim(0), c = (int) x.dim(1), h = (int) x.dim(2), w = (int) x.dim(3);
        int oh = h + top + bottom, ow = w + left + right;
        float[] xv = f(x), o = new float[n * c * oh * ow];
        for (int p = 0; p < n * c; p++)
            for (int y = 0; y < h; y++)
                for (int z = 0; z < w; z++) o[(p * oh + y + top) * ow + z + left] = xv[(p * h + y) * w + z];
        return out(o, n, c, oh, ow);
    }

    @Override
    public Tensor groupNorm(Tensor x, int groups, Tensor gamma, Tensor beta, float eps, boolean silu) {
        int n = (int) x.dim(0), c = (int) x.dim(1);
        float[] xv = f(x), g = f(gamma), bt = f(beta), o = new float[xv.length];
        int spatial = xv.length / (n * c), per = c / groups;
        for (int b = 0; b < n; b++)
            for (int gi = 0; gi < groups; gi++) {
                int start = (b * c + gi * per) * spatial, len = per * spatial;
                double mean = 0, var = 0;
                for (int i = 0; i < len; i++) mean += xv[start + i];
                mean /= len;
                for (int i = 0; i < len; i++) var += (xv[start + i] - mean) * (xv[start + i] - mean);
                var /= len;
                double inv = 1 / Math.sqrt(var + eps);
                for (int i = 0; i < len; i++) {
                    int ch = gi * per + i / spatial;
                    double v = (xv[start + i] - mean) * inv * g[ch] + bt[ch];
                    o[start + i] = (float) (silu ? v / (1 + Math.exp(-v)) : v);
                }
            }
        return out(o, x.shape());
    }

    @Override
    public Tensor layerNorm(Tensor x, Tensor gamma, Tensor beta, float eps) {
        int d = (int) x.dim(-1);
        float[] xv = f(x), g = f(gamma), bt = f(beta), o = new float[xv.length];
        for (int r = 0; r < xv.length / d; r++) {
            double mean = 0, var = 0;
            for (int i = 0; i < d; i++) mean += xv[r * d + i];
            mean /= d;
            for (int i = 0; i < d; i++) var += (xv[r * d + i] - mean) * (xv[r * d + i] - mean);
            var /= d;
            double inv = 1 / Math.sqrt(var + eps);
            for (int i = 0; i < d; i++) o[r * d + i] = (float) ((xv[r * d + i] - mean) * inv * g[i] + bt[i]);
        }
        return out(o, x.shape());
    }

    @Override
    public Tensor attention(Tensor q, Tensor k, Tensor v, int heads, boolean causal) {
        int b = (int) q.dim(0), lq = (int) q.dim(1), lk = (int) k.dim(1), hd = (int) q.dim(2);
        int d = hd / heads;
        float[] qv = f(q), kv = f(k), vv = f(v), o = new float[b * lq * hd];
        double scale = 1 / Math.sqrt(d);
        double[] p = new double[lk];
        for (int n = 0; n < b; n++)
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < lq; i++) {
                    double max = Double.NEGATIVE_INFINITY;
                    int keys = causal ? Math.min(lk, i + 1) : lk;
                    for (int j = 0; j < keys; j++) {
                        double s = 0;
                        for (int e = 0; e < d; e++) s += (double) qv[(n * lq + i) * hd + h * d + e] * kv[(n * lk + j) * hd + h * d + e];
                        p[j] = s * scale;
                        max = Math.max(max, p[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < keys; j++) sum += p[j] = Math.exp(p[j] - max);
                    for (int e = 0; e < d; e++) {
                        double s = 0;
                        for (int j = 0; j < keys; j++) s += p[j] * vv[(n * lk + j) * hd + h * d + e];
                        o[(n * lq + i) * hd + h * d + e] = (float) (s / sum);
                    }
                }
        return out(o, b, lq, hd);
    }

    private interface Fn { double apply(double x); }

    private static Tensor map(Tensor x, Fn fn) {
        float[] v = f(x);
        for (int i = 0; i < v.length; i++) v[i] = (float) fn.apply(v[i]);
        return out(v, x.shape());
    }

    @Override public Tensor silu(Tensor x) { return map(x, a -> a / (1 + Math.exp(-a))); }

    @Override public Tensor gelu(Tensor x) { return map(x, a -> 0.5 * a * (1 + erf(a / Math.sqrt(2)))); }

    @Override public Tensor quickGelu(Tensor x) { return map(x, a -> a / (1 + Math.exp(-1.702 * a))); }

    /** erf by its Maclaurin series (|x| < 3) or continued fraction of erfc (beyond): below 1e-12. */
    static double erf(double x) {
        double ax = Math.abs(x);
        if (ax < 3) {
            double term = ax, sum = ax, x2 = ax * ax;
            for (int n = 1; n < 200 && Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
                term *= -x2 / n;
                sum += term / (2 * n + 1);
            }
            return Math.copySign(2 / Math.sqrt(Math.PI) * sum, x);
        }
        double cf = 0;
        for (int n = 60; n >= 1; n--) cf = n / 2.0 / (ax + cf);
        double erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / (ax + cf);
        return Math.copySign(1 - erfc, x);
    }

    @Override
    public Tensor geglu(Tensor x) {
        int two = (int) x.dim(-1), ff = two / 2;
        float[] v = f(x), o = new float[v.length / 2];
        for (int r = 0; r < v.length / two; r++)
            for (int i = 0; i < ff; i++) {
                double g = v[r * two + ff + i];
                o[r * ff + i] = (float) (v[r * two + i] * 0.5 * g * (1 + erf(g / Math.sqrt(2))));
            }
        long[] shape = x.shape();
        shape[shape.length - 1] = ff;
        return out(o, shape);
    }

    @Override
    public Tensor add(Tensor a, Tensor b) {
        if (!a.sameShape(b)) throw new IllegalArgumentException("add " + a + " + " + b);
        float[] av = f(a), bv = f(b);
        for (int i = 0; i < av.length; i++) av[i] += bv[i];
        return out(av, a.shape());
    }

    @Override
    public Tensor addChannelwise(Tensor x, Tensor v) {
        int n = (int) x.dim(0), c = (int) x.dim(1);
        float[] xv = f(x), vv = f(v);
        int spatial = xv.length / (n * c);
        for (int i = 0; i < xv.length; i++) xv[i] += vv[i / spatial];
        return out(xv, x.shape());
    }

    @Override public Tensor scale(Tensor x, float s) { return map(x, a -> a * s); }

    @Override
    public Tensor upsampleNearest2x(Tensor x) {
        int n = (int) x.dim(0), c = (int) x.dim(1), h = (int) x.dim(2), w = (int) x.dim(3);
        float[] xv = f(x), o = new float[n * c * 4 * h * w];
        for (int p = 0; p < n * c; p++)
            for (int y = 0; y < 2 * h; y++)
                for (int z = 0; z < 2 * w; z++) o[(p * 2 * h + y) * 2 * w + z] = xv[(p * h + y / 2) * w + z / 2];
        return out(o, n, c, 2L * h, 2L * w);
    }

    @Override
    public Tensor concatChannels(Tensor a, Tensor b) {
        int n = (int) a.dim(0), ca = (int) a.dim(1), cb = (int) b.dim(1);
        float[] av = f(a), bv = f(b), o = new float[av.length + bv.length];
        int sa = av.length / n, sb = bv.length / n;
        for (int i = 0; i < n; i++) {
            System.arraycopy(av, i * sa, o, i * (sa + sb), sa);
            System.arraycopy(bv, i * sb, o, i * (sa + sb) + sa, sb);
        }
        return out(o, n, ca + cb, a.dim(2), a.dim(3));
    }

    @Override public Tensor toTokens(Tensor x) {
        return x.reshape(x.dim(0), x.dim(1), x.dim(2) * x.dim(3)).permute(0, 2, 1).contiguous();
    }

    @Override public Tensor fromTokens(Tensor x, long height, long width) {
        return x.permute(0, 2, 1).contiguous().reshape(x.dim(0), x.dim(2), height, width);
    }

    @Override
    public Tensor embedding(Tensor table, Tensor ids) {
        int vocab = (int) table.dim(0), d = (int) table.dim(1);
        float[] tv = f(table);
        long[] iv = ids.toLongArray();
        float[] o = new float[iv.length * d];
        for (int i = 0; i < iv.length; i++) {
            if (iv[i] < 0 || iv[i] >= vocab) throw new IndexOutOfBoundsException("id " + iv[i] + " of " + vocab);
            System.arraycopy(tv, (int) iv[i] * d, o, i * d, d);
        }
        long[] shape = Arrays.copyOf(ids.shape(), ids.rank() + 1);
        shape[ids.rank()] = d;
        return out(o, shape);
    }
}
