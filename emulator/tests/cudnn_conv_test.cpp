// cuDNN's forward convolution against its documentation: the output-dimension formula, y = alpha conv(x, w) +
// beta y for NCHW and NHWC, float and half, padding, stride and dilation (and true convolution) compared with a
// naive convolution in double; the algorithm queries and workspace rule; the documented status for misuse; a
// convolution recorded by stream capture.
#include "check.h"
#include "cudnn/dnn.h"
#include "driver/api.h"
#include "driver_harness.h"
#include "driver/numeric.h"

#include <cmath>
#include <random>
#include <string>
#include <vector>

using namespace pdemu;
using namespace pdemu::dnn;

namespace {

void setup() { pdemu_test::open_primary_context_once(); }

struct Shape {
    int n, c, h, w, k, r, s, pad_h, pad_w, stride_h, stride_w, dil_h, dil_w;
};

/** Host values held in logical [n][c][h][w] (x, y) or [k][c][r][s] (w) order, stored on the device in `format`. */
struct Tensor4 {
    int type, format, d0, d1, d2, d3;
    std::vector<double> v;
    CUdeviceptr dev = 0;
    size_t size() const { return size_t(d0) * d1 * d2 * d3; }
    size_t logical(int a, int b, int c, int d) const { return ((size_t(a) * d1 + b) * d2 + c) * d3 + d; }
    size_t stored(int a, int b, int c, int d) const {  // NCHW: as logical; NHWC: [a][c][d][b]
        return format == FORMAT_NCHW ? logical(a, b, c, d) : ((size_t(a) * d2 + c) * d3 + d) * d1 + b;
    }
};

int element_size(int type) { return type == DATA_HALF ? 2 : 4; }

Tensor4 make(int type, int format, int d0, int d1, int d2, int d3, std::mt19937& rng) {
    Tensor4 t{type, format, d0, d1, d2, d3, {}, 0};
    std::uniform_real_distribution<double> u(-1.0, 1.0);
    t.v.resize(t.size());
    for (double& x : t.v) x = type == DATA_HALF ? num::half_to_float(num::float_to_half(float(u(rng)))) : double(float(u(rng)));
    CHECK_EQ(cuMemAlloc_v2(&t.dev, t.size() * element_size(type)), cu::SUCCESS);
    std::vector<uint8_t> bytes(t.size() * element_size(type));
    for (int a = 0; a < d0; ++a)
        for (int b = 0; b < d1; ++b)
            for (int c = 0; c < d2; ++c)
                for (int d = 0; d < d3; ++d) {
                    double x = t.v[t.logical(a, b, c, d)];
                    size_t at = t.stored(a, b, c, d);
                    if (type == DATA_HALF) reinterpret_cast<uint16_t*>(bytes.data())[at] = num::float_to_half(float(x));
                    else reinterpret_cast<float*>(bytes.data())[at] = float(x);
                }
    CHECK_EQ(cuMemcpyHtoD_v2(t.dev, bytes.data(), bytes.size()), cu::SUCCESS);
    return t;
}

double read_at(const std::vector<uint8_t>& bytes, int type, size_t i) {
    return type == DATA_HALF ? num::half_to_float(reinterpret_cast<const uint16_t*>(bytes.data())[i])
                             : reinterpret_cast<const float*>(bytes.data())[i];
}

struct Descs {
    cudnnTensorDescriptor_t x = nullptr, y = nullptr;
    cudnnFilterDescriptor_t w = nullptr;
    cudnnConvolutionDescriptor_t conv = nullptr;
    void destroy() {
        CHECK_EQ(cudnnDestroyTensorDescriptor(x), STATUS_SUCCESS);
        CHECK_EQ(cudnnDestroyTensorDescriptor(y), STATUS_SUCCESS);
        CHECK_EQ(cudnnDestroyFilterDescriptor(w), STATUS_SUCCESS);
        CHECK_EQ(cudnnDestroyConvolutionDescriptor(conv), STATUS_SUCCESS);
    }
};

Descs describe(const Shape& p, int type, int format, int mode, int out[4]) {
    Descs d;
    CHECK_EQ(cudnnCreateTensorDescriptor(&d.x), STATUS_SUCCESS);
    CHECK_EQ(cudnnCreateTensorDescriptor(&d.y), STATUS_SUCCESS);
    CHECK_EQ(cudnnCreateFilterDescriptor(&d.w), STATUS_SUCCESS);
    CHECK_EQ(cudnnCreateConvolutionDescriptor(&d.conv), STATUS_SUCCESS);
    CHECK_EQ(cudnnSetTensor4dDescriptor(d.x, format, type, p.n, p.c, p.h, p.w), STATUS_SUCCESS);
    CHECK_EQ(cudnnSetFilter4dDescriptor(d.w, type, format, p.k, p.c, p.r, p.s), STATUS_SUCCESS);
    CHECK_EQ(cudnnSetConvolution2dDescriptor(d.conv, p.pad_h, p.pad_w, p.stride_h, p.stride_w, p.dil_h, p.dil_w, mode, DATA_FLOAT),
             STATUS_SUCCESS);
    CHECK_EQ(cudnnSetConvolutionMathType(d.conv, MATH_TENSOR_OP), STATUS_SUCCESS);
    CHECK_EQ(cudnnGetConvolution2dForwardOutputDim(d.conv, d.x, d.w, &out[0], &out[1], &out[2], &out[3]), STATUS_SUCCESS);
    CHECK_EQ(cudnnSetTensor4dDescriptor(d.y, format, type, out[0], out[1], out[2], out[3]), STATUS_SUCCESS);
    return d;
}

void check_conv(const Shape& p, int type, int format, int mode, int algo, float alpha, float beta, double tol,
                cudnnHandle_t h, std::mt19937& rng) {
    int out[4];
    Descs d = describe(p, type, format, mode, out);
    // The documented formula: 1 + (in + 2 pad - ((filter - 1) dilation + 1)) / stride.
    CHECK_EQ(out[2], 1 + (p.h + 2 * p.pad_h - ((p.r - 1) * p.dil_h + 1)) / p.stride_h);
    CHECK_EQ(out[3], 1 + (p.w + 2 * p.pad_w - ((p.s - 1) * p.dil_w + 1)) / p.stride_w);
    Tensor4 x = make(type, format, p.n, p.c, p.h, p.w, rng), w = make(type, format, p.k, p.c, p.r, p.s, rng);
    Tensor4 y = make(type, format, out[0], out[1], out[2], out[3], rng);
    size_t ws_size = 0;
    CHECK_EQ(cudnnGetConvolutionForwardWorkspaceSize(h, d.x, d.w, d.conv, d.y, algo, &ws_size), STATUS_SUCCESS);
    CUdeviceptr ws = 0;
    if (ws_size) CHECK_EQ(cuMemAlloc_v2(&ws, ws_size), cu::SUCCESS);
    CHECK_EQ(cudnnConvolutionForward(h, &alpha, d.x, reinterpret_cast<void*>(x.dev), d.w, reinterpret_cast<void*>(w.dev),
                                     d.conv, algo, reinterpret_cast<void*>(ws), ws_size, &beta, d.y,
                                     reinterpret_cast<void*>(y.dev)),
             STATUS_SUCCESS);
    std::vector<uint8_t> bytes(y.size() * element_size(type));
    CHECK_EQ(cuMemcpyDtoH_v2(bytes.data(), y.dev, bytes.size()), cu::SUCCESS);
    int bad = 0;
    for (int n = 0; n < out[0]; ++n)
        for (int k = 0; k < out[1]; ++k)
            for (int oh = 0; oh < out[2]; ++oh)
                for (int ow = 0; ow < out[3]; ++ow) {
                    double s = 0;
                    for (int c = 0; c < p.c; ++c)
                        for (int r = 0; r < p.r; ++r)
                            for (int q = 0; q < p.s; ++q) {
                                int ih = oh * p.stride_h - p.pad_h + r * p.dil_h, iw = ow * p.stride_w - p.pad_w + q * p.dil_w;
                                if (ih < 0 || ih >= p.h || iw < 0 || iw >= p.w) continue;
                                int fr = mode == MODE_CONVOLUTION ? p.r - 1 - r : r, fq = mode == MODE_CONVOLUTION ? p.s - 1 - q : q;
                                s += x.v[x.logical(n, c, ih, iw)] * w.v[w.logical(k, c, fr, fq)];
                            }
                    double want = alpha * s + beta * y.v[y.logical(n, k, oh, ow)];
                    double got = read_at(bytes, type, y.stored(n, k, oh, ow));
                    if (std::fabs(got - want) > tol * (1 + std::fabs(want)) && bad++ < 5)
                        pdemu_test::fail(__FILE__, __LINE__, "y[" + std::to_string(n) + "," + std::to_string(k) + "," +
                                                                 std::to_string(oh) + "," + std::to_string(ow) + "]: " +
                                                                 pdemu_test::show(got, want));
                }
    if (ws) CHECK_EQ(cuMemFree_v2(ws), cu::SUCCESS);
    for (Tensor4* t : {&x, &w, &y}) CHECK_EQ(cuMemFree_v2(t->dev), cu::SUCCESS);
    d.destroy();
}

}  // namespace

TEST(convolutions_match_a_naive_convolution) {
    setup();
    cudnnHandle_t h = nullptr;
    CHECK_EQ(cudnnCreate(&h), STATUS_SUCCESS);
    std::mt19937 rng(7);
    const Shape same3x3{2, 5, 9, 7, 6, 3, 3, 1, 1, 1, 1, 1, 1};
    const Shape strided{1, 4, 11, 10, 3, 3, 3, 1, 1, 2, 2, 1, 1};
    const Shape dilated{1, 3, 12, 9, 2, 3, 2, 2, 0, 1, 3, 2, 1};
    const Shape pointwise{2, 16, 4, 4, 8, 1, 1, 0, 0, 1, 1, 1, 1};
    for (const Shape& p : {same3x3, strided, dilated, pointwise})
        for (int format : {FORMAT_NCHW, FORMAT_NHWC}) {
            check_conv(p, DATA_FLOAT, format, MODE_CROSS_CORRELATION, ALGO_IMPLICIT_PRECOMP_GEMM, 1.0f, 0.0f, 1e-5, h, rng);
            check_conv(p, DATA_HALF, format, MODE_CROSS_CORRELATION, ALGO_IMPLICIT_GEMM, 1.0f, 0.0f, 2e-3, h, rng);
        }
    check_conv(same3x3, DATA_FLOAT, FORMAT_NHWC, MODE_CONVOLUTION, ALGO_IMPLICIT_GEMM, 1.0f, 0.0f, 1e-5, h, rng);
    check_conv(strided, DATA_HALF, FORMAT_NHWC, MODE_CROSS_CORRELATION, ALGO_GEMM, 0.5f, 2.0f, 2e-3, h, rng);
    check_conv(dilated, DATA_FLOAT, FORMAT_NCHW, MODE_CROSS_CORRELATION, ALGO_GEMM, 1.0f, 1.0f, 1e-5, h, rng);
    CHECK_EQ(cudnnDestroy(h), STATUS_SUCCESS);
}

TEST(descriptor_and_shape_refusals) {
    setup();
    cudnnTensorDescriptor_t x = nullptr, y = nullptr;
    cudnnFilterDescriptor_t w = nullptr;
    cudnnConvolutionDescriptor_t conv = nullptr;
    CHECK_EQ(cudnnCreateTensorDescriptor(nullptr), STATUS_BAD_PARAM);
    CHECK_EQ(cudnnCreateTensorDescriptor(&x), STATUS_SUCCESS);
    CHECK_EQ(cudnnCreateTensorDescriptor(&y), STATUS_SUCCESS);
    CHECK_EQ(cudnnCreateFilterDescriptor(&w), STATUS_SUCCESS);
    CHECK_EQ(cudnnCreateConvolutionDescriptor(&conv), STATUS_SUCCESS);
    CHECK_EQ(cudnnSetTensor4dDescriptor(x, FORMAT_NHWC, DATA_HALF, 0, 3, 8, 8), STATUS_BAD_PARAM);
    CHECK_EQ(cudnnSetTensor4dDescriptor(x, 7, DATA_HALF, 1, 3, 8, 8), STATUS_BAD_PARAM);
    CHECK_EQ(cudnnSetTensor4dDescriptor(x, FORMAT_NHWC, 99, 1, 3, 8, 8), STATUS_BAD_PARAM);
    CHECK_EQ(cudnnSetConvolution2dDescriptor(conv, -1, 0, 1, 1, 1, 1, MODE_CROSS_CORRELATION, DATA_FLOAT), STATUS_BAD_PARAM);
    CHECK_EQ(cudnnSetConvolution2dDescriptor(conv, 0, 0, 0, 1, 1, 1, MODE_CROSS_CORRELATION, DATA_FLOAT), STATUS_BAD_PARAM);
    CHECK_EQ(cudnnSetConvolution2dDescriptor(conv, 0, 0, 1, 1, 1, 1, 5, DATA_FLOAT), STATUS_BAD_PARAM);
    CHECK_EQ(cudnnSetConvolutionMathType(conv, 9), STATUS_BAD_PARAM);
    int n, c, hh, ww;
    CHECK_EQ(cudnnGetConvolution2dForwardOutputDim(conv, x, w, &n, &c, &hh, &ww), STATUS_BAD_PARAM);  // not set yet
    CHECK_EQ(cudnnSetTensor4dDescriptor(x, FORMAT_NHWC, DATA_HALF, 1, 3, 8, 8), STATUS_SUCCESS);
    CHECK_EQ(cudnnSetFilter4dDescriptor(w, DATA_HALF, FORMAT_NHWC, 4, 5, 3, 3), STATUS_SUCCESS);  // 5 channels vs 3
    CHECK_EQ(cudnnSetConvolution2dDescriptor(conv, 1, 1, 1, 1, 1, 1, MODE_CROSS_CORRELATION, DATA_FLOAT), STATUS_SUCCESS);
    CHECK_EQ(cudnnGetConvolution2dForwardOutputDim(conv, x, w, &n, &c, &hh, &ww), STATUS_BAD_PARAM);
    CHECK_EQ(cudnnSetFilter4dDescriptor(w, DATA_HALF, FORMAT_NHWC, 4, 3, 3, 3), STATUS_SUCCESS);
    CHECK_EQ(cudnnGetConvolution2dForwardOutputDim(conv, x, w, &n, &c, &hh, &ww), STATUS_SUCCESS);
    CHECK_EQ(n, 1);
    CHECK_EQ(c, 4);
    CHECK_EQ(hh, 8);
    CHECK_EQ(ww, 8);
    CHECK_EQ(cudnnGetConvolution2dForwardOutputDim(conv, x, w, nullptr, &c, &hh, &ww), STATUS_BAD_PARAM);
    cudnnHandle_t h = nullptr;
    CHECK_EQ(cudnnCreate(&h), STATUS_SUCCESS);
    CHECK_EQ(cudnnSetTensor4dDescriptor(y, FORMAT_NHWC, DATA_HALF, 1, 4, 7, 8), STATUS_SUCCESS);  // wrong height
    size_t ws = 0;
    CHECK_EQ(cudnnGetConvolutionForwardWorkspaceSize(h, x, w, conv, y, ALGO_IMPLICIT_GEMM, &ws), STATUS_BAD_PARAM);
    CHECK_EQ(cudnnSetTensor4dDescriptor(y, FORMAT_NHWC, DATA_FLOAT, 1, 4, 8, 8), STATUS_SUCCESS);  // half x, float y
    CHECK_EQ(cudnnGetConvolutionForwardWorkspaceSize(h, x, w, conv, y, ALGO_IMPLICIT_GEMM, &ws), STATUS_NOT_SUPPORTED);
    CHECK_EQ(cudnnSetTensor4dDescriptor(y, FORMAT_NHWC, DATA_HALF, 1, 4, 8, 8), STATUS_SUCCESS);
    CHECK_EQ(cudnnGetConvolutionForwardWorkspaceSize(h, x, w, conv, y, ALGO_IMPLICIT_GEMM, &ws), STATUS_SUCCESS);
    CHECK_EQ(cudnnGetConvolutionForwardWorkspaceSize(h, x, w, conv, y, ALGO_FFT, &ws), STATUS_NOT_SUPPORTED);
    CHECK_EQ(cudnnGetConvolutionForwardWorkspaceSize(h, x, w, conv, y, 42, &ws), STATUS_BAD_PARAM);
    CHECK_EQ(cudnnDestroyTensorDescriptor(x), STATUS_SUCCESS);
    CHECK_EQ(cudnnDestroyTensorDescriptor(x), STATUS_BAD_PARAM);
    CHECK_EQ(cudnnDestroyTensorDescriptor(y), STATUS_SUCCESS);
    CHECK_EQ(cudnnDestroyFilterDescriptor(w), STATUS_SUCCESS);
    CHECK_EQ(cudnnDestroyConvolutionDescriptor(conv), STATUS_SUCCESS);
    CHECK_EQ(cudnnDestroy(h), STATUS_SUCCESS);
    CHECK_EQ(cudnnDestroy(h), STATUS_BAD_PARAM);
    CHECK_EQ(std::string(cudnnGetErrorString(STATUS_BAD_PARAM)), std::string("CUDNN_STATUS_BAD_PARAM"));
    CHECK_EQ(std::string(cudnnGetErrorString(STATUS_NOT_SUPPORTED)), std::string("CUDNN_STATUS_NOT_SUPPORTED"));
    CHECK_EQ(int(cudnnGetVersion() / 10000), 9);
}

TEST(algorithm_queries_and_the_workspace_rule) {
    setup();
    cudnnHandle_t h = nullptr;
    CHECK_EQ(cudnnCreate(&h), STATUS_SUCCESS);
    int max = 0;
    CHECK_EQ(cudnnGetConvolutionForwardAlgorithmMaxCount(h, &max), STATUS_SUCCESS);
    CHECK_EQ(max, ALGO_COUNT);
    std::mt19937 rng(8);
    const Shape p{1, 4, 6, 6, 3, 3, 3, 1, 1, 1, 1, 1, 1};
    int out[4];
    Descs d = describe(p, DATA_HALF, FORMAT_NHWC, MODE_CROSS_CORRELATION, out);
    cudnnConvolutionFwdAlgoPerf_t perf[ALGO_COUNT];
    int returned = 0;
    CHECK_EQ(cudnnGetConvolutionForwardAlgorithm_v7(h, d.x, d.w, d.conv, d.y, ALGO_COUNT, &returned, perf), STATUS_SUCCESS);
    CHECK_EQ(returned, int(ALGO_COUNT));
    int supported = 0;
    for (int i = 0; i < returned; ++i) {
        if (perf[i].status != STATUS_SUCCESS) {
            CHECK_EQ(perf[i].status, STATUS_NOT_SUPPORTED);
            continue;
        }
        CHECK_EQ(i, supported++);  // the supported algorithms come first
        size_t ws = 1;
        CHECK_EQ(cudnnGetConvolutionForwardWorkspaceSize(h, d.x, d.w, d.conv, d.y, perf[i].algo, &ws), STATUS_SUCCESS);
        CHECK_EQ(ws, perf[i].memory);
        CHECK_EQ(perf[i].mathType, int(MATH_TENSOR_OP));
    }
    CHECK(supported >= 1);
    CHECK_EQ(cudnnGetConvolutionForwardAlgorithm_v7(h, d.x, d.w, d.conv, d.y, 0, &returned, perf), STATUS_BAD_PARAM);
    Tensor4 x = make(DATA_HALF, FORMAT_NHWC, 1, 4, 6, 6, rng), w = make(DATA_HALF, FORMAT_NHWC, 3, 4, 3, 3, rng);
    Tensor4 y = make(DATA_HALF, FORMAT_NHWC, 1, 3, 6, 6, rng);
    size_t gemm_ws = 0;
    CHECK_EQ(cudnnGetConvolutionForwardWorkspaceSize(h, d.x, d.w, d.conv, d.y, ALGO_GEMM, &gemm_ws), STATUS_SUCCESS);
    CHECK(gemm_ws > 0);
    CUdeviceptr ws = 0;
    CHECK_EQ(cuMemAlloc_v2(&ws, gemm_ws), cu::SUCCESS);
    float one = 1, zero = 0;
    void *X = reinterpret_cast<void*>(x.dev), *W = reinterpret_cast<void*>(w.dev), *Y = reinterpret_cast<void*>(y.dev);
    CHECK_EQ(cudnnConvolutionForward(h, &one, d.x, X, d.w, W, d.conv, ALGO_GEMM, reinterpret_cast<void*>(ws), gemm_ws - 1,
                                     &zero, d.y, Y),
             STATUS_BAD_PARAM);  // workspace too small
    CHECK_EQ(cudnnConvolutionForward(h, &one, d.x, X, d.w, W, d.conv, ALGO_FFT, nullptr, 0, &zero, d.y, Y), STATUS_NOT_SUPPORTED);
    CHECK_EQ(cudnnConvolutionForward(h, nullptr, d.x, X, d.w, W, d.conv, ALGO_IMPLICIT_GEMM, nullptr, 0, &zero, d.y, Y),
             STATUS_BAD_PARAM);
    CHECK_EQ(cudnnConvolutionForward(h, &one, d.x, reinterpret_cast<char*>(X) + 1, d.w, W, d.conv, ALGO_IMPLICIT_GEMM,
                                     nullptr, 0, &zero, d.y, Y),
             STATUS_BAD_PARAM);  // misaligned x
    // Find runs the algorithms that fit the workspace it is given and ranks them by measured time.
    CHECK_EQ(cudnnFindConvolutionForwardAlgorithmEx(h, d.x, X, d.w, W, d.conv, d.y, Y, ALGO_COUNT, &returned, perf,
                                                    reinterpret_cast<void*>(ws), gemm_ws),
             STATUS_SUCCESS);
    CHECK_EQ(returned, int(ALGO_COUNT));
    CHECK_EQ(perf[0].status, STATUS_SUCCESS);
    CHECK(perf[0].time >= 0.0f);
    for (int i = 1; i < supported; ++i) CHECK(perf[i].status != STATUS_SUCCESS || perf[i].time >= perf[i - 1].time);
    CHECK_EQ(cudnnFindConvolutionForwardAlgorithmEx(h, d.x, X, d.w, W, d.conv, d.y, Y, ALGO_COUNT, &returned, perf, nullptr, 0),
             STATUS_SUCCESS);
    for (int i = 0; i < returned; ++i)
        if (perf[i].algo == ALGO_GEMM) CHECK_EQ(perf[i].status, STATUS_NOT_SUPPORTED);  // no workspace given
    CHECK_EQ(cuMemFree_v2(ws), cu::SUCCESS);
    for (Tensor4* t : {&x, &w, &y}) CHECK_EQ(cuMemFree_v2(t->dev), cu::SUCCESS);
    d.destroy();
    CHECK_EQ(cudnnDestroy(h), STATUS_SUCCESS);
}

TEST(convolution_runs_on_the_handle_stream_and_is_captured) {
    setup();
    cudnnHandle_t h = nullptr;
    CHECK_EQ(cudnnCreate(&h), STATUS_SUCCESS);
    CUstream s = pdemu_test::new_stream();
    CHECK_EQ(cudnnSetStream(h, s), STATUS_SUCCESS);
    CHECK_EQ(cudnnSetStream(h, reinterpret_cast<CUstream>(0x1234)), STATUS_BAD_PARAM);
    std::mt19937 rng(9);
    const Shape p{1, 2, 4, 4, 2, 1, 1, 0, 0, 1, 1, 1, 1};
    int out[4];
    Descs d = describe(p, DATA_FLOAT, FORMAT_NCHW, MODE_CROSS_CORRELATION, out);
    Tensor4 x = make(DATA_FLOAT, FORMAT_NCHW, 1, 2, 4, 4, rng), w = make(DATA_FLOAT, FORMAT_NCHW, 2, 2, 1, 1, rng);
    Tensor4 y = make(DATA_FLOAT, FORMAT_NCHW, 1, 2, 4, 4, rng);
    CHECK_EQ(cuMemsetD8Async(y.dev, 0, 2 * 16 * 4, s), cu::SUCCESS);
    float one = 1, zero = 0;
    CHECK_EQ(cuStreamBeginCapture_v2(s, cu::CAPTURE_MODE_THREAD_LOCAL), cu::SUCCESS);
    CHECK_EQ(cudnnConvolutionForward(h, &one, d.x, reinterpret_cast<void*>(x.dev), d.w, reinterpret_cast<void*>(w.dev), d.conv,
                                     ALGO_IMPLICIT_PRECOMP_GEMM, nullptr, 0, &zero, d.y, reinterpret_cast<void*>(y.dev)),
             STATUS_SUCCESS);
    CUgraph g = nullptr;
    CHECK_EQ(cuStreamEndCapture(s, &g), cu::SUCCESS);
    float first = -1;
    CHECK_EQ(cuMemcpyDtoH_v2(&first, y.dev, 4), cu::SUCCESS);
    CHECK_EQ(first, 0.0f);  // recorded, not run
    CUgraphExec e = nullptr;
    CHECK_EQ(cuGraphInstantiateWithFlags(&e, g, 0), cu::SUCCESS);
    CHECK_EQ(cuGraphLaunch(e, s), cu::SUCCESS);
    CHECK_EQ(cuMemcpyDtoH_v2(&first, y.dev, 4), cu::SUCCESS);
    CHECK_NEAR(first, x.v[x.logical(0, 0, 0, 0)] * w.v[0] + x.v[x.logical(0, 1, 0, 0)] * w.v[1], 1e-6);
    CHECK_EQ(cuGraphExecDestroy(e), cu::SUCCESS);
    CHECK_EQ(cuGraphDestroy(g), cu::SUCCESS);
    for (Tensor4* t : {&x, &w, &y}) CHECK_EQ(cuMemFree_v2(t->dev), cu::SUCCESS);
    d.destroy();
    CHECK_EQ(cudnnDestroy(h), STATUS_SUCCESS);
    CHECK_EQ(cuStreamDestroy_v2(s), cu::SUCCESS);
}

PDEMU_TEST_MAIN
