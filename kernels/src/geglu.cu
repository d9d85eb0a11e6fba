// GEGLU gate of diffusers' FeedForward: x [rows, 2F] -> y [rows, F], y = x[:, :F] * gelu(x[:, F:]) (exact erf GELU).
#include "common.cuh"

PD_KERNEL void geglu_f16(__half* y, const __half* x, i64 rows, int F) {
    const i64 n = rows * F;
    PD_FOR(i, n) {
        i64 r = i / F;
        int f = (int)(i % F);
        const __half* row = x + r * 2 * F;
        y[i] = __float2half(__half2float(row[f]) * pd_gelu(__half2float(row[F + f])));
    }
}
