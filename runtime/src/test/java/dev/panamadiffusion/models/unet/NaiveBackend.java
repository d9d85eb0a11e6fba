package dev.panamadiffusion.models.unet;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.tensor.DType;
import dev.panamadiffusion.tensor.Tensor;

import java.util.Arrays;

/**
 * The {@link Backend} ops written as plainly as possible (scalar loops, double accumulation) over host f32 tensors,
 * for running the models in tests independently of the optimised backends.
 */
public final class NaiveBackend implements Backend {
    @Override public String name() { return "naive"; }

    @Override public Tensor upload(Tensor host) { return host.to(DType.F32); }

    @Override public Tensor download(Tensor t) { return t.to(DType.F32); }

    @Override
    public Tensor linear(Tensor x, Tensor weight, Tensor bias) {
        int in = (int) x.dim(-1);
        int out = (int) weight.dim(0);
        if (weight.dim(1) != in) throw new IllegalArgumentException("linear " + x + " x " + weight);
        float[] a = x.toFloatArray();
        float[] w = weight.toFloatArray();
        float[] b = bias == null ? null : bias.toFloatArray();
        int rows = a.length / in;
        float[] y = new float[rows * out];
        for (int r = 0; r < rows; r++) {
            for (int o = 0; o < out; o++) {
                double s = b == null ? 0 : b[o];
                for (int i = 0; i < in; i++) s += (double) a[r * in + i] * w[o * in + i];
                y[r * out + o] = (float) s;
            }
        }
        long[] shape = x.shape();
        shape[shape.length - 1] = out;
        return Tensor.fromFloats(y, shape);
    }

    @Override
    public Tensor conv2d(Tensor x, Tensor weight, Tensor bias, int stride, int padding) {
        int n = (int) x.dim(0), c = (int) x.dim(1), h = (int) x.dim(2), wd = (int) x.dim(3);
        int o = (int) weight.dim(0), kh = (int) weight.dim(2), kw = (int) weight.dim(3);
        if (weight.dim(1) != c) throw new IllegalArgumentException("conv2d " + x + " * " + weight);
        int oh = (h + 2 * padding - kh) / stride + 1;
        int ow = (wd + 2 * padding - kw) / stride + 1;
        float[] a = x.toFloatArray();
        float[] w = weight.toFloatArray();
        float[] b = bias == null ? null : bias.toFloatArray();
        float[] y = new float[n * o * oh * ow];
        for (int ni = 0; ni < n; ni++)
            for (int oc = 0; oc < o; oc++)
                for (int yi = 0; yi < oh; yi++)
                    for (int xi = 0; xi < ow; xi++) {
                        double s = b == null ? 0 : b[oc];
                        for (int ic = 0; ic < c; ic++)
                            for (int ky = 0; ky < kh; ky++) {
                                int iy = yi * stride - padding + ky;
                                if (iy < 0 || iy >= h) continue;
                                for (int kx = 0; kx < kw; kx++) {
                                    int ix = xi * stride - padding + kx;
                                    if (ix < 0 || ix >= wd) continue;
                                    s += (double) a[((ni * c + ic) * h + iy) * wd + ix] * w[((oc * c + ic) * kh + ky) * kw + kx];
                                }
                            }
                        y[((ni * o + oc) * oh + yi) * ow + xi] = (float) s;
                    }
        return Tensor.fromFloats(y, n, o, oh, ow);
    }

    @Override
    public Tensor pad2d(Tensor x, int left, int right, int top, int bottom) {
        int nc = (int) (x.dim(0) * x.dim(1)), h = (int) x.dim(2), w = (int) x.dim(3);
        int ph = h + top + bottom, pw = w + left + right;
        float[] a = x.toFloatArray();
        float[] y = new float[nc * ph * pw];
        for (int p = 0; p < nc; p++)
            for (int i = 0; i < h; i++)
                for (int j = 0; j < w; j++) y[(p * ph + i + top) * pw + j + left] = a[(p * h + i) * w + j];
        return Tensor.fromFloats(y, x.dim(0), x.dim(1), ph, pw);
    }

    @Override
    public Tensor groupNorm(Tensor x, int groups, Tensor gamma, Tensor beta, float eps, boolean silu) {
        int n = (int) x.dim(0), c = (int) x.dim(1);
        float[] a = x.toFloatArray();
        int spatial = a.length / (n * c);
        int cpg = c / groups;
        float[] g = gamma.toFloatArray(), b = beta.toFloatArray();
        float[] y = new float[a.length];
        for (int ni = 0; ni < n; ni++)
            for (int gi = 0; gi < groups; gi++) {
                int start = (ni * c + gi * cpg) * spatial, len = cpg * spatial;
                double mean = 0;
                for (int i = 0; i < len; i++) mean += a[start + i];
                mean /= len;
                double var = 0;
                for (int i = 0; i < len; i++) var += (a[start + i] - mean) * (a[start + i] - mean);
                var /= len;
                double inv = 1 / Math.sqrt(var + eps);
                for (int i = 0; i < len; i++) {
                    int ch = gi * cpg + i / spatial;
                    double v = (a[start + i] - mean) * inv * g[ch] + b[ch];
                    y[start + i] = (float) (silu ? v / (1 + Math.exp(-v)) : v);
                }
            }
        return Tensor.fromFloats(y, x.shape());
    }

    @Override
    public Tensor layerNorm(Tensor x, Tensor gamma, Tensor beta, float eps) {
        int d = (int) x.dim(-1);
        float[] a = x.toFloatArray(), g = gamma.toFloatArray(), b = beta.toFloatArray();
        float[] y = new float[a.length];
        for (int r = 0; r < a.length / d; r++) {
            double mean = 0, var = 0;
            for (int i = 0; i < d; i++) mean += a[r * d + i];
            mean /= d;
            for (int i = 0; i < d; i++) var += (a[r * d + i] - mean) * (a[r * d + i] - mean);
            var /= d;
            double inv = 1 / Math.sqrt(var + eps);
            for (int i = 0; i < d; i++) y[r * d + i] = (float) ((a[r * d + i] - mean) * inv * g[i] + b[i]);
        }
        return Tensor.fromFloats(y, x.shape());
    }

    @Override
    public Tensor attention(Tensor q, Tensor k, Tensor v, int heads, boolean causal) {
        int b = (int) q.dim(0), lq = (int) q.dim(1), lk = (int) k.dim(1), width = (int) q.dim(2);
        int d = width / heads;
        float[] qa = q.toFloatArray(), ka = k.toFloatArray(), va = v.toFloatArray();
        float[] y = new float[b * lq * width];
        double scale = 1 / Math.sqrt(d);
        double[] s = new double[lk];
        for (int bi = 0; bi < b; bi++)
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < lq; i++) {
                    double max = Double.NEGATIVE_INFINITY;
                    int keys = causal ? Math.min(i + 1, lk) : lk;
                    for (int j = 0; j < keys; j++) {
                        double dot = 0;
                        for (int e = 0; e < d; e++) {
                            dot += (double) qa[(bi * lq + i) * width + h * d + e] * ka[(bi * lk + j) * width + h * d + e];
                        }
                        s[j] = dot * scale;
                        max = Math.max(max, s[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < keys; j++) {
                        s[j] = Math.exp(s[j] - max);
                        sum += s[j];
                    }
                    for (int e = 0; e < d; e++) {
                        double acc = 0;
                        for (int j = 0; j < keys; j++) acc += s[j] * va[(bi * lk + j) * width + h * d + e];
                        y[(bi * lq + i) * width + h * d + e] = (float) (acc / sum);
                    }
                }
        return Tensor.fromFloats(y, b, lq, width);
    }

    @Override
    public Tensor silu(Tensor x) {
        return map(x, v -> v / (1 + Math.exp(-v)));
    }

    @Override
    public Tensor gelu(Tensor x) {
        return map(x, NaiveBackend::geluExact);
    }

    @Override
    public Tensor quickGelu(Tensor x) {
        return map(x, v -> v / (1 + Math.exp(-1.702 * v)));
    }

    @Override
    public Tensor geglu(Tensor x) {
        int two = (int) x.dim(-1), f = two / 2;
        float[] a = x.toFloatArray();
        int rows = a.length / two;
        float[] y = new float[rows * f];
        for (int r = 0; r < rows; r++)
            for (int i = 0; i < f; i++) y[r * f + i] = (float) (a[r * two + i] * geluExact(a[r * two + f + i]));
        long[] shape = x.shape();
        shape[shape.length - 1] = f;
        return Tensor.fromFloats(y, shape);
    }

    @Override
    public Tensor add(Tensor a, Tensor b) {
        if (!a.sameShape(b)) throw new IllegalArgumentException("add " + a + " + " + b);
        float[] x = a.toFloatArray(), y = b.toFloatArray();
        for (int i = 0; i < x.length; i++) x[i] += y[i];
        return Tensor.fromFloats(x, a.shape());
    }

    @Override
    public Tensor addChannelwise(Tensor x, Tensor v) {
        int nc = (int) (x.dim(0) * x.dim(1));
        float[] a = x.toFloatArray(), b = v.toFloatArray();
        int spatial = a.length / nc;
        for (int i = 0; i < a.length; i++) a[i] += b[i / spatial];
        return Tensor.fromFloats(a, x.shape());
    }

    @Override
    public Tensor scale(Tensor x, float s) {
        return map(x, v -> v * s);
    }

    @Override
    public Tensor upsampleNearest2x(Tensor x) {
        int nc = (int) (x.dim(0) * x.dim(1)), h = (int) x.dim(2), w = (int) x.dim(3);
        float[] a = x.toFloatArray();
        float[] y = new float[nc * 4 * h * w];
        for (int p = 0; p < nc; p++)
            for (int i = 0; i < 2 * h; i++)
                for (int j = 0; j < 2 * w; j++) y[(p * 2 * h + i) * 2 * w + j] = a[(p * h + i / 2) * w + j / 2];
        return Tensor.fromFloats(y, x.dim(0), x.dim(1), 2L * h, 2L * w);
    }

    @Override
    public Tensor concatChannels(Tensor a, Tensor b) {
        int n = (int) a.dim(0);
        float[] x = a.toFloatArray(), y = b.toFloatArray();
        int pa = x.length / n, pb = y.length / n;
        float[] out = new float[x.length + y.length];
        for (int i = 0; i < n; i++) {
            System.arraycopy(x, i * pa, out, i * (pa + pb), pa);
            System.arraycopy(y, i * pb, out, i * (pa + pb) + pa, pb);
        }
        return Tensor.fromFloats(out, n, a.dim(1) + b.dim(1), a.dim(2), a.dim(3));
    }

    @Override
    public Tensor toTokens(Tensor x) {
        return Tensor.fromFloats(x.permute(0, 2, 3, 1).toFloatArray(), x.dim(0), x.dim(2) * x.dim(3), x.dim(1));
    }

    @Override
    public Tensor fromTokens(Tensor x, long height, long width) {
        Tensor v = x.reshape(x.dim(0), height, width, x.dim(2)).permute(0, 3, 1, 2);
        return Tensor.fromFloats(v.toFloatArray(), v.shape());
    }

    @Override
    public Tensor embedding(Tensor table, Tensor ids) {
        int vocab = (int) table.dim(0), d = (int) table.dim(1);
        float[] t = table.toFloatArray();
        long[] id = ids.toLongArray();
        float[] y = new float[id.length * d];
        for (int i = 0; i < id.length; i++) {
            if (id[i] < 0 || id[i] >= vocab) throw new IllegalArgumentException("id " + id[i] + " outside [0, " + vocab + ")");
            System.arraycopy(t, (int) id[i] * d, y, i * d, d);
        }
        long[] shape = Arrays.copyOf(ids.shape(), ids.rank() + 1);
        shape[ids.rank()] = d;
        return Tensor.fromFloats(y, shape);
    }

    private interface DoubleOp { double apply(double v); }

    private static Tensor map(Tensor x, DoubleOp f) {
        float[] a = x.toFloatArray();
        for (int i = 0; i < a.length; i++) a[i] = (float) f.apply(a[i]);
        return Tensor.fromFloats(a, x.shape());
    }

    static double geluExact(double v) {
        return 0.5 * v * (1 + erf(v / Math.sqrt(2)));
    }

    /** erf by its Maclaurin series (|z| < 4; error below 1e-9 there), ±1 beyond (erfc(4) ≈ 1.5e-8). */
    static double erf(double z) {
        if (Math.abs(z) >= 4) return Math.signum(z);
        double term = z, sum = z;
        for (int n = 1; n < 200; n++) {
            term *= -z * z / n;
            double add = term / (2 * n + 1);
            sum += add;
            if (Math.abs(add) < 1e-17) break;
        }
        return 2 / Math.sqrt(Math.PI) * sum;
    }
}
