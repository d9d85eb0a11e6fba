// The reference forward convolution (f32 accumulation, one rounding to y's type) and cudnnConvolutionForward, which
// enqueues it on the handle's stream. Inputs are first widened to f32 in NHWC / KRSC order so the inner loop is a
// contiguous dot product over (r, s, c); rows of the output are spread over host threads.
#include "cudnn/dnn.h"

#include "driver/memory.h"
#include "driver/numeric.h"
#include "driver/parallel.h"
#include "driver/state.h"

#include <vector>

using namespace pdemu;
using namespace pdemu::dnn;

namespace {

float load(int type, const void* base, uint64_t i) {
    switch (type) {
        case DATA_HALF: return num::half_to_float(static_cast<const uint16_t*>(base)[i]);
        case DATA_BFLOAT16: return num::bf16_to_float(static_cast<const uint16_t*>(base)[i]);
        default: return static_cast<const float*>(base)[i];
    }
}

void store(int type, void* base, uint64_t i, float v) {
    switch (type) {
        case DATA_HALF: static_cast<uint16_t*>(base)[i] = num::float_to_half(v); break;
        case DATA_BFLOAT16: static_cast<uint16_t*>(base)[i] = num::float_to_bf16(v); break;
        default: static_cast<float*>(base)[i] = v; break;
    }
}

void* resolve(uint64_t address, uint64_t bytes, bool write, const char* what) {
    std::string why;
    void* p = drv::memory().resolve(address, bytes, write, &why);
    if (!p) drv::fail(cu::ERROR_ILLEGAL_ADDRESS, std::string("cudnnConvolutionForward: ") + what + " " + why);
    return p;
}

}  // namespace

namespace pdemu::dnn {

CUresult convolve(const Problem& p, int algo, float alpha, float beta, uint64_t x, uint64_t w, uint64_t y,
                  uint64_t workspace, size_t workspace_size) {
    const Tensor& X = p.x;
    const Tensor& Y = p.y;
    const Filter& W = p.w;
    const Conv& cv = p.conv;
    const int N = X.n, C = X.c, H = X.h, Wd = X.w, K = W.k, R = W.h, S = W.w, Ho = Y.h, Wo = Y.w;
    const void* xp = resolve(x, uint64_t(N) * C * H * Wd * element_size(X.type), false, "x");
    const void* wp = xp ? resolve(w, uint64_t(K) * C * R * S * element_size(W.type), false, "w") : nullptr;
    void* yp = wp ? resolve(y, uint64_t(N) * K * Ho * Wo * element_size(Y.type), true, "y") : nullptr;
    if (!yp) return cu::ERROR_ILLEGAL_ADDRESS;
    float* ws = nullptr;
    if (algo == ALGO_GEMM && !(ws = static_cast<float*>(resolve(workspace, workspace_bytes(p, algo), true, "workspace"))))
        return cu::ERROR_ILLEGAL_ADDRESS;

    // x as f32 NHWC, the filter as f32 KRSC (flipped for true convolution).
    std::vector<float> xf(size_t(N) * H * Wd * C), wf(size_t(K) * R * S * C);
    par::parallel_for(size_t(N) * H, 16, [&](size_t b, size_t e) {
        for (size_t nh = b; nh < e; ++nh) {
            size_t n = nh / H, h = nh % H;
            for (int ww = 0; ww < Wd; ++ww)
                for (int c = 0; c < C; ++c) {
                    uint64_t src = X.format == FORMAT_NHWC ? ((n * H + h) * Wd + ww) * C + c : ((n * C + c) * H + h) * Wd + ww;
                    xf[((n * H + h) * Wd + ww) * C + c] = load(X.type, xp, src);
                }
        }
    });
    for (int k = 0; k < K; ++k)
        for (int r = 0; r < R; ++r)
            for (int s = 0; s < S; ++s)
                for (int c = 0; c < C; ++c) {
                    int fr = cv.mode == MODE_CONVOLUTION ? R - 1 - r : r, fs = cv.mode == MODE_CONVOLUTION ? S - 1 - s : s;
                    uint64_t src = W.format == FORMAT_NHWC ? ((uint64_t(k) * R + fr) * S + fs) * C + c
                                                           : ((uint64_t(k) * C + c) * R + fr) * S + fs;
                    wf[((size_t(k) * R + r) * S + s) * C + c] = load(W.type, wp, src);
                }

    const size_t rsc = size_t(R) * S * C;
    auto column = [&](int n, int oh, int ow, float* col) {  // the (r, s, c) input window of one output pixel
        for (int r = 0; r < R; ++r) {
            int ih = oh * cv.u - cv.pad_h + r * cv.dil_h;
            for (int s = 0; s < S; ++s) {
                int iw = ow * cv.v - cv.pad_w + s * cv.dil_w;
                float* dst = col + (size_t(r) * S + s) * C;
                if (ih < 0 || ih >= H || iw < 0 || iw >= Wd) {
                    for (int c = 0; c < C; ++c) dst[c] = 0.0f;
                } else {
                    const float* src = &xf[((size_t(n) * H + ih) * Wd + iw) * C];
                    for (int c = 0; c < C; ++c) dst[c] = src[c];
                }
            }
        }
    };
    auto emit = [&](int n, int oh, int ow, int k, float acc) {
        float v = alpha * acc;
        uint64_t dst = Y.format == FORMAT_NHWC ? ((uint64_t(n) * Ho + oh) * Wo + ow) * K + k
                                               : ((uint64_t(n) * K + k) * Ho + oh) * Wo + ow;
        if (beta != 0.0f) v += beta * load(Y.type, yp, dst);
        store(Y.type, yp, dst, v);
    };
    // One output row at a time: its Wo input windows, then each group of four filters against all of them, so a
    // filter stays in cache while the row's windows stream past.
    auto output_row = [&](int n, int oh, const float* cols) {
        int k = 0;
        float acc[4];
        for (; k + 4 <= K; k += 4) {
            const float* f = &wf[size_t(k) * rsc];
            for (int ow = 0; ow < Wo; ++ow) {
                num::dot4(f, f + rsc, f + 2 * rsc, f + 3 * rsc, cols + size_t(ow) * rsc, rsc, acc);
                for (int r = 0; r < 4; ++r) emit(n, oh, ow, k + r, acc[r]);
            }
        }
        for (; k < K; ++k)
            for (int ow = 0; ow < Wo; ++ow) emit(n, oh, ow, k, num::dot(&wf[size_t(k) * rsc], cols + size_t(ow) * rsc, rsc));
    };
    size_t grain = std::max<size_t>(1, 32768 / std::max<size_t>(1, size_t(Wo) * rsc * K));
    if (algo == ALGO_GEMM) {  // im2col of one image into the workspace, then its product with the filter
        for (int n = 0; n < N; ++n) {
            par::parallel_for(size_t(Ho), grain, [&](size_t b, size_t e) {
                for (size_t oh = b; oh < e; ++oh)
                    for (int ow = 0; ow < Wo; ++ow) column(n, int(oh), ow, ws + (oh * Wo + ow) * rsc);
            });
            par::parallel_for(size_t(Ho), grain, [&](size_t b, size_t e) {
                for (size_t oh = b; oh < e; ++oh) output_row(n, int(oh), ws + oh * Wo * rsc);
            });
        }
        return cu::SUCCESS;
    }
    par::parallel_for(size_t(N) * Ho, grain, [&](size_t b, size_t e) {
        std::vector<float> cols(size_t(Wo) * rsc);
        for (size_t row = b; row < e; ++row) {
            for (int ow = 0; ow < Wo; ++ow) column(int(row / Ho), int(row % Ho), ow, &cols[size_t(ow) * rsc]);
            output_row(int(row / Ho), int(row % Ho), cols.data());
        }
    });
    return cu::SUCCESS;
}

}  // namespace pdemu::dnn

PDEMU_API cudnnStatus_t cudnnConvolutionForward(cudnnHandle_t handle, const void* alpha, cudnnTensorDescriptor_t xDesc,
                                                const void* x, cudnnFilterDescriptor_t wDesc, const void* w,
                                                cudnnConvolutionDescriptor_t convDesc, int algo, void* workSpace,
                                                size_t workSpaceSizeInBytes, const void* beta,
                                                cudnnTensorDescriptor_t yDesc, void* y) {
    static const char* api = "cudnnConvolutionForward";
    if (!handle || !handles().has(handle)) return fail(STATUS_BAD_PARAM, std::string(api) + ": not a live handle");
    if (!alpha || !beta || !x || !w || !y) return fail(STATUS_BAD_PARAM, std::string(api) + ": alpha, beta, x, w or y is NULL");
    Problem p;
    if (cudnnStatus_t s = check_forward(xDesc, wDesc, convDesc, yDesc, &p, api)) return s;
    if (algo < 0 || algo >= ALGO_COUNT) return fail(STATUS_BAD_PARAM, std::string(api) + ": algo is not a valid enumerant");
    if (!algo_supported(algo)) return fail(STATUS_NOT_SUPPORTED, std::string(api) + ": algorithm " + std::to_string(algo) + " is not emulated");
    size_t need = workspace_bytes(p, algo);
    if (workSpaceSizeInBytes < need || (need && !workSpace))
        return fail(STATUS_BAD_PARAM, std::string(api) + ": the algorithm needs a workspace of " + std::to_string(need) +
                                          " bytes, " + std::to_string(workSpaceSizeInBytes) + " given");
    uint64_t xs = reinterpret_cast<uint64_t>(x), wsp = reinterpret_cast<uint64_t>(w), ys = reinterpret_cast<uint64_t>(y);
    if (xs % element_size(p.x.type) || wsp % element_size(p.w.type) || ys % element_size(p.y.type))
        return fail(STATUS_BAD_PARAM, std::string(api) + ": x, w or y is not aligned to its element size");
    float a = *static_cast<const float*>(alpha), b = *static_cast<const float*>(beta);
    uint64_t work = reinterpret_cast<uint64_t>(workSpace);
    std::string what = "cudnnConvolutionForward " + std::to_string(p.x.n) + "x" + std::to_string(p.x.c) + "x" +
                       std::to_string(p.x.h) + "x" + std::to_string(p.x.w) + " * " + std::to_string(p.w.k) + "x" +
                       std::to_string(p.w.h) + "x" + std::to_string(p.w.w);
    CUresult r = drv::enqueue_external(reinterpret_cast<Handle*>(handle)->stream, what, [=]() {
        return convolve(p, algo, a, b, xs, wsp, ys, work, workSpaceSizeInBytes);
    }, api);
    return r == cu::SUCCESS ? STATUS_SUCCESS : STATUS_EXECUTION_FAILED;
}
