package dev.panamadiffusion.backend.cpu;

/** Naive scalar implementations (double accumulation) of every backend op, the oracle for the CPU kernels. */
final class Reference {
    private Reference() {}

    static float[] linear(float[] x, int m, int k, float[] w, int n, float[] b) {
        float[] out = new float[m * n];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double s = b == null ? 0 : b[j];
                for (int kk = 0; kk < k; kk++) s += (double) x[i * k + kk] * w[j * k + kk];
                out[i * n + j] = (float) s;
            }
        }
        return out;
    }

    static float[] conv2d(float[] x, int n, int c, int h, int wd, float[] w, int o, int kh, int kw, float[] b, int stride, int pad) {
        int ho = (h + 2 * pad - kh) / stride + 1;
        int wo = (wd + 2 * pad - kw) / stride + 1;
        float[] out = new float[n * o * ho * wo];
        for (int img = 0; img < n; img++)
            for (int oc = 0; oc < o; oc++)
                for (int oy = 0; oy < ho; oy++)
                    for (int ox = 0; ox < wo; ox++) {
                        double s = b == null ? 0 : b[oc];
                        for (int ic = 0; ic < c; ic++)
                            for (int ky = 0; ky < kh; ky++)
                                for (int kx = 0; kx < kw; kx++) {
                                    int iy = oy * stride - pad + ky;
                                    int ix = ox * stride - pad + kx;
                                    if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                                    s += (double) x[((img * c + ic) * h + iy) * wd + ix] * w[((oc * c + ic) * kh + ky) * kw + kx];
                                }
                        out[((img * o + oc) * ho + oy) * wo + ox] = (float) s;
                    }
        return out;
    }

    static float[] attention(float[] q, float[] k, float[] v, int b, int lq, int lk, int heads, int d, boolean causal) {
        int hd = heads * d;
        float[] out = new float[b * lq * hd];
        double scale = 1 / Math.sqrt(d);
        for (int bb = 0; bb < b; bb++)
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < lq; i++) {
                    double[] s = new double[lk];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < lk; j++) {
                        if (causal && j > i) { s[j] = Double.NEGATIVE_INFINITY; continue; }
                        double dot = 0;
                        for (int t = 0; t < d; t++) dot += (double) q[(bb * lq + i) * hd + h * d + t] * k[(bb * lk + j) * hd + h * d + t];
                        s[j] = dot * scale;
                        max = Math.max(max, s[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < lk; j++) { s[j] = Math.exp(s[j] - max); sum += s[j]; }
                    for (int t = 0; t < d; t++) {
                        double acc = 0;
                        for (int j = 0; j < lk; j++) acc += s[j] / sum * v[(bb * lk + j) * hd + h * d + t];
                        out[(bb * lq + i) * hd + h * d + t] = (float) acc;
                    }
                }
        return out;
    }

    static float[] groupNorm(float[] x, int n, int c, int spatial, int groups, float[] g, float[] b, double eps, boolean silu) {
        float[] out = new float[x.length];
        int cpg = c / groups;
        for (int img = 0; img < n; img++)
            for (int gr = 0; gr < groups; gr++) {
                int base = (img * c + gr * cpg) * spatial;
                int cnt = cpg * spatial;
                double mean = 0, var = 0;
                for (int i = 0; i < cnt; i++) mean += x[base + i];
                mean /= cnt;
                for (int i = 0; i < cnt; i++) var += (x[base + i] - mean) * (x[base + i] - mean);
                var /= cnt;
                for (int i = 0; i < cnt; i++) {
                    int ch = gr * cpg + i / spatial;
                    double y = (x[base + i] - mean) / Math.sqrt(var + eps) * g[ch] + b[ch];
                    out[base + i] = (float) (silu ? y / (1 + Math.exp(-y)) : y);
                }
            }
        return out;
    }

    static float[] layerNorm(float[] x, int d, float[] g, float[] b, double eps) {
        float[] out = new float[x.length];
        for (int r = 0; r < x.length / d; r++) {
            double mean = 0, var = 0;
            for (int i = 0; i < d; i++) mean += x[r * d + i];
            mean /= d;
            for (int i = 0; i < d; i++) var += (x[r * d + i] - mean) * (x[r * d + i] - mean);
            var /= d;
            for (int i = 0; i < d; i++) out[r * d + i] = (float) ((x[r * d + i] - mean) / Math.sqrt(var + eps) * g[i] + b[i]);
        }
        return out;
    }

    static double erf(double x) {
        // series / continued fraction free: high-precision erf via Simpson integration is slow; use W. J. Cody's
        // rational approximation through Math functions: erf(x) = 1 - erfc(x), erfc from its continued fraction.
        double ax = Math.abs(x);
        double r;
        if (ax < 2.5) {
            // Taylor series converges quickly here
            double sum = ax, term = ax;
            for (int n = 1; n < 200; n++) {
                term *= -ax * ax / n;
                double add = term / (2 * n + 1);
                sum += add;
                if (Math.abs(add) < 1e-17) break;
            }
            r = 2 / Math.sqrt(Math.PI) * sum;
        } else {
            // continued fraction for erfc, evaluated bottom-up
            double f = 0;
            for (int n = 60; n >= 1; n--) f = n / 2.0 / (ax + f);
            r = 1 - Math.exp(-ax * ax) / Math.sqrt(Math.PI) / (ax + f);
        }
        return x < 0 ? -r : r;
    }

    static double gelu(double x) { return 0.5 * x * (1 + erf(x / Math.sqrt(2))); }

    static double silu(double x) { return x / (1 + Math.exp(-x)); }

    static double quickGelu(double x) { return x / (1 + Math.exp(-1.702 * x)); }
}
