// Elementwise and data-movement kernels on f16 activations: activations, add/scale, channel broadcasts,
// nearest upsampling, channel concatenation and padding in NHWC, strided copies with dtype casts (layout
// changes NCHW <-> NHWC, upload/download conversions) and the embedding gather.
#include "common.cuh"

// ---- activations and arithmetic (any layout: the buffers are dense and walked linearly) --------------------

PD_KERNEL void silu_f16(__half* y, const __half* x, i64 n) {
    PD_FOR(i, n) y[i] = __float2half(pd_silu(__half2float(x[i])));
}

PD_KERNEL void gelu_f16(__half* y, const __half* x, i64 n) {
    PD_FOR(i, n) y[i] = __float2half(pd_gelu(__half2float(x[i])));
}

PD_KERNEL void quick_gelu_f16(__half* y, const __half* x, i64 n) {
    PD_FOR(i, n) y[i] = __float2half(pd_quick_gelu(__half2float(x[i])));
}

PD_KERNEL void add_f16(__half* y, const __half* a, const __half* b, i64 n) {
    PD_FOR(i, n) y[i] = __float2half(__half2float(a[i]) + __half2float(b[i]));
}

PD_KERNEL void scale_f16(__half* y, const __half* x, float s, i64 n) {
    PD_FOR(i, n) y[i] = __float2half(__half2float(x[i]) * s);
}

// y[i] = x[i] + v[batch * vBatchStride + c] for a channels-last buffer: c = i % C, batch = i / perBatch.
// Conv bias: vBatchStride 0; addChannelwise (v [N, C]): vBatchStride C, perBatch H*W*C. y may alias x.
PD_KERNEL void add_channels_f16(__half* y, const __half* x, const __half* v, i64 vBatchStride, i64 perBatch, int C, i64 n) {
    PD_FOR(i, n) {
        i64 c = i % C;
        i64 b = i / perBatch;
        y[i] = __float2half(__half2float(x[i]) + __half2float(v[b * vBatchStride + c]));
    }
}

// ---- NHWC spatial ops ----------------------------------------------------------------------------------------

// [N, H, W, C] -> [N, 2H, 2W, C], nearest neighbour.
PD_KERNEL void upsample_nearest2x_nhwc_f16(__half* y, const __half* x, int N, int H, int W, int C) {
    const i64 n = (i64)N * 4 * H * W * C;
    const int W2 = 2 * W, H2 = 2 * H;
    PD_FOR(i, n) {
        i64 c = i % C;
        i64 p = i / C;
        i64 ox = p % W2;
        p /= W2;
        i64 oy = p % H2;
        i64 b = p / H2;
        y[i] = x[((b * H + (oy >> 1)) * W + (ox >> 1)) * C + c];
    }
}

// [P, Ca] ++ [P, Cb] -> [P, Ca + Cb] over pixels P = N*H*W (channel concatenation in NHWC).
PD_KERNEL void concat_channels_nhwc_f16(__half* y, const __half* a, const __half* b, i64 pixels, int Ca, int Cb) {
    const int C = Ca + Cb;
    const i64 n = pixels * C;
    PD_FOR(i, n) {
        i64 p = i / C;
        int c = (int)(i % C);
        y[i] = c < Ca ? a[p * Ca + c] : b[p * Cb + (c - Ca)];
    }
}

// Zero padding of H and W: [N, H, W, C] -> [N, H + top + bottom, W + left + right, C].
PD_KERNEL void pad2d_nhwc_f16(__half* y, const __half* x, int N, int H, int W, int C, int left, int right, int top, int bottom) {
    const int Ho = H + top + bottom, Wo = W + left + right;
    const i64 n = (i64)N * Ho * Wo * C;
    PD_FOR(i, n) {
        i64 c = i % C;
        i64 p = i / C;
        int ox = (int)(p % Wo);
        p /= Wo;
        int oy = (int)(p % Ho);
        i64 b = p / Ho;
        int ix = ox - left, iy = oy - top;
        y[i] = (ix >= 0 && ix < W && iy >= 0 && iy < H) ? x[((b * H + iy) * W + ix) * C + c] : __float2half(0.0f);
    }
}

// ---- strided copies with casts: y is dense in the iteration order of v.shape; x is read through v -----------

PD_KERNEL void copy_strided_f16_f16(__half* y, const __half* x, PdStrided v, i64 n) {
    PD_FOR(i, n) y[i] = x[pd_strided_offset(v, i)];
}

PD_KERNEL void copy_strided_f32_f16(__half* y, const float* x, PdStrided v, i64 n) {
    PD_FOR(i, n) y[i] = __float2half(x[pd_strided_offset(v, i)]);
}

PD_KERNEL void copy_strided_bf16_f16(__half* y, const __nv_bfloat16* x, PdStrided v, i64 n) {
    PD_FOR(i, n) y[i] = __float2half(__bfloat162float(x[pd_strided_offset(v, i)]));
}

PD_KERNEL void copy_strided_f16_f32(float* y, const __half* x, PdStrided v, i64 n) {
    PD_FOR(i, n) y[i] = __half2float(x[pd_strided_offset(v, i)]);
}

// ---- embedding ---------------------------------------------------------------------------------------------

// y[t, :] = table[ids[t], :] for t < count; ids were range-checked on the host. table [V, D], y [count, D].
PD_KERNEL void embedding_f16(__half* y, const __half* table, const int* ids, i64 count, int D) {
    const i64 n = count * D;
    PD_FOR(i, n) {
        i64 t = i / D;
        int d = (int)(i % D);
        y[i] = table[(i64)ids[t] * D + d];
    }
}
