// cuBLASLt against its documentation: D = epilogue(alpha * op(A) . op(B) + beta * C (+ bias per row of D)) on
// column-major layouts with leading dimensions, transposes and strided batches, compared with a naive product in
// double; the heuristic's answers (one algorithm, workspace within the preference, NOT_SUPPORTED for excluded
// types and alignments) and the documented status for each misuse; matmuls recorded by stream capture.
#include "check.h"
#include "cublaslt/lt.h"
#include "driver/api.h"
#include "driver_harness.h"
#include "driver/numeric.h"

#include <cmath>
#include <random>
#include <string>
#include <vector>

using namespace pdemu;
using namespace pdemu::lt;

namespace {

void setup() { pdemu_test::open_primary_context_once(); }

/** A column-major matrix on the host (values already representable in `type`) and its device copy. */
struct Mat {
    int type;
    uint64_t rows, cols;
    int64_t ld;
    int batch = 1;
    int64_t stride = 0;
    std::vector<double> v;  // batch * stride (or ld * cols) elements
    CUdeviceptr dev = 0;
    cublasLtMatrixLayout_t layout = nullptr;

    size_t elements() const { return batch > 1 ? size_t(stride) * (batch - 1) + size_t(ld) * cols : size_t(ld) * cols; }
    double& at(int b, uint64_t r, uint64_t c) { return v[size_t(b) * stride + r + c * ld]; }
};

int element_size(int type) { return type == R_16F ? 2 : 4; }

double representable(int type, double x) {
    return type == R_16F ? num::half_to_float(num::float_to_half(float(x))) : double(float(x));
}

Mat make(int type, uint64_t rows, uint64_t cols, int64_t ld, std::mt19937& rng, int batch = 1, int64_t stride = 0) {
    Mat m{type, rows, cols, ld, batch, stride, {}, 0, nullptr};
    std::uniform_real_distribution<double> u(-1.0, 1.0);
    m.v.resize(m.elements());
    for (double& x : m.v) x = representable(type, u(rng));
    CHECK_EQ(cuMemAlloc_v2(&m.dev, m.elements() * element_size(type)), cu::SUCCESS);
    if (type == R_16F) {
        std::vector<uint16_t> h(m.v.size());
        for (size_t i = 0; i < h.size(); ++i) h[i] = num::float_to_half(float(m.v[i]));
        CHECK_EQ(cuMemcpyHtoD_v2(m.dev, h.data(), h.size() * 2), cu::SUCCESS);
    } else {
        std::vector<float> h(m.v.begin(), m.v.end());
        CHECK_EQ(cuMemcpyHtoD_v2(m.dev, h.data(), h.size() * 4), cu::SUCCESS);
    }
    CHECK_EQ(cublasLtMatrixLayoutCreate(&m.layout, type, rows, cols, ld), STATUS_SUCCESS);
    if (batch > 1) {
        CHECK_EQ(cublasLtMatrixLayoutSetAttribute(m.layout, LAYOUT_BATCH_COUNT, &batch, 4), STATUS_SUCCESS);
        CHECK_EQ(cublasLtMatrixLayoutSetAttribute(m.layout, LAYOUT_STRIDED_BATCH_OFFSET, &stride, 8), STATUS_SUCCESS);
    }
    return m;
}

std::vector<double> download(const Mat& m) {
    std::vector<double> out(m.elements());
    if (m.type == R_16F) {
        std::vector<uint16_t> h(out.size());
        CHECK_EQ(cuMemcpyDtoH_v2(h.data(), m.dev, h.size() * 2), cu::SUCCESS);
        for (size_t i = 0; i < h.size(); ++i) out[i] = num::half_to_float(h[i]);
    } else {
        std::vector<float> h(out.size());
        CHECK_EQ(cuMemcpyDtoH_v2(h.data(), m.dev, h.size() * 4), cu::SUCCESS);
        for (size_t i = 0; i < h.size(); ++i) out[i] = h[i];
    }
    return out;
}

void release(Mat& m) {
    CHECK_EQ(cublasLtMatrixLayoutDestroy(m.layout), STATUS_SUCCESS);
    CHECK_EQ(cuMemFree_v2(m.dev), cu::SUCCESS);
}

cublasLtMatmulDesc_t desc(int transa, int transb, uint32_t epilogue = EPILOGUE_DEFAULT, CUdeviceptr bias = 0) {
    cublasLtMatmulDesc_t d = nullptr;
    CHECK_EQ(cublasLtMatmulDescCreate(&d, COMPUTE_32F, R_32F), STATUS_SUCCESS);
    CHECK_EQ(cublasLtMatmulDescSetAttribute(d, DESC_TRANSA, &transa, 4), STATUS_SUCCESS);
    CHECK_EQ(cublasLtMatmulDescSetAttribute(d, DESC_TRANSB, &transb, 4), STATUS_SUCCESS);
    CHECK_EQ(cublasLtMatmulDescSetAttribute(d, DESC_EPILOGUE, &epilogue, 4), STATUS_SUCCESS);
    if (bias) CHECK_EQ(cublasLtMatmulDescSetAttribute(d, DESC_BIAS_POINTER, &bias, 8), STATUS_SUCCESS);
    return d;
}

/** Runs D = alpha op(A) op(B) + beta C (+ bias) on `stream` and checks it against the naive product in double. */
void check_product(int transa, int transb, Mat& a, Mat& b, Mat& c, Mat& d, float alpha, float beta, uint32_t epilogue,
                   const Mat* bias, double tol, cublasLtHandle_t h) {
    cublasLtMatmulDesc_t op = desc(transa, transb, epilogue, bias ? bias->dev : 0);
    CHECK_EQ(cublasLtMatmul(h, op, &alpha, reinterpret_cast<void*>(a.dev), a.layout, reinterpret_cast<void*>(b.dev),
                            b.layout, &beta, reinterpret_cast<void*>(c.dev), c.layout, reinterpret_cast<void*>(d.dev),
                            d.layout, nullptr, nullptr, 0, nullptr),
             STATUS_SUCCESS);
    std::vector<double> got = download(d);
    uint64_t m = d.rows, n = d.cols, k = transa == OP_T ? a.rows : a.cols;
    int bad = 0;
    for (int bt = 0; bt < d.batch; ++bt)
        for (uint64_t j = 0; j < n; ++j)
            for (uint64_t i = 0; i < m; ++i) {
                double s = 0;
                for (uint64_t kk = 0; kk < k; ++kk)
                    s += (transa == OP_T ? a.at(bt, kk, i) : a.at(bt, i, kk)) * (transb == OP_T ? b.at(bt, j, kk) : b.at(bt, kk, j));
                double want = alpha * s + beta * c.at(bt, i, j);
                if (bias) want += bias->v[i];
                if (epilogue == EPILOGUE_RELU || epilogue == EPILOGUE_RELU_BIAS) want = std::max(want, 0.0);
                if (epilogue == EPILOGUE_GELU) want = 0.5 * want * (1 + std::tanh(0.7978845608 * (want + 0.044715 * want * want * want)));
                double g = got[size_t(bt) * d.stride + i + j * d.ld];
                if (std::fabs(g - want) > tol * (1 + std::fabs(want)) && bad++ < 5)
                    pdemu_test::fail(__FILE__, __LINE__, "D(" + std::to_string(i) + "," + std::to_string(j) + ") batch " +
                                                             std::to_string(bt) + ": " + pdemu_test::show(g, want));
            }
    CHECK_EQ(cublasLtMatmulDescDestroy(op), STATUS_SUCCESS);
}

}  // namespace

TEST(f32_products_for_every_transpose_with_padded_leading_dimensions) {
    setup();
    cublasLtHandle_t h = nullptr;
    CHECK_EQ(cublasLtCreate(&h), STATUS_SUCCESS);
    std::mt19937 rng(1);
    const uint64_t m = 13, n = 7, k = 19;
    for (int ta : {OP_N, OP_T})
        for (int tb : {OP_N, OP_T}) {
            Mat a = ta == OP_N ? make(R_32F, m, k, m + 3, rng) : make(R_32F, k, m, k + 1, rng);
            Mat b = tb == OP_N ? make(R_32F, k, n, k + 2, rng) : make(R_32F, n, k, n, rng);
            Mat c = make(R_32F, m, n, m + 5, rng), d = make(R_32F, m, n, m + 1, rng);
            check_product(ta, tb, a, b, c, d, 1.5f, 0.5f, EPILOGUE_DEFAULT, nullptr, 1e-5, h);
            for (Mat* x : {&a, &b, &c, &d}) release(*x);
        }
    CHECK_EQ(cublasLtDestroy(h), STATUS_SUCCESS);
}

TEST(f16_linear_layer_with_bias_epilogue) {  // y[M,N] = x[M,K] w[N,K]^T + b, as column-major y^T = op_T(w) x
    setup();
    cublasLtHandle_t h = nullptr;
    CHECK_EQ(cublasLtCreate(&h), STATUS_SUCCESS);
    std::mt19937 rng(2);
    const uint64_t M = 9, N = 24, K = 40;
    Mat w = make(R_16F, K, N, K, rng), x = make(R_16F, K, M, K, rng), y = make(R_16F, N, M, N, rng);
    Mat bias = make(R_16F, N, 1, N, rng);
    check_product(OP_T, OP_N, w, x, y, y, 1.0f, 0.0f, EPILOGUE_BIAS, &bias, 2e-3, h);  // C == D, beta 0
    Mat c = make(R_16F, N, M, N, rng);
    check_product(OP_T, OP_N, w, x, c, y, 1.0f, 1.0f, EPILOGUE_RELU_BIAS, &bias, 2e-3, h);
    Mat y32 = make(R_32F, N, M, N, rng), c32 = make(R_32F, N, M, N, rng);  // f16 operands, f32 output
    check_product(OP_T, OP_N, w, x, c32, y32, 0.5f, 0.25f, EPILOGUE_GELU, nullptr, 1e-4, h);
    for (Mat* m : {&w, &x, &y, &bias, &c, &y32, &c32}) release(*m);
    CHECK_EQ(cublasLtDestroy(h), STATUS_SUCCESS);
}

TEST(strided_batches_including_a_broadcast_operand) {
    setup();
    cublasLtHandle_t h = nullptr;
    CHECK_EQ(cublasLtCreate(&h), STATUS_SUCCESS);
    std::mt19937 rng(3);
    const uint64_t m = 6, n = 5, k = 8;
    const int batch = 3;
    Mat a = make(R_16F, k, m, k, rng, batch, int64_t(k * m + 4));  // transposed, with gaps between batches
    Mat b = make(R_16F, k, n, k, rng, batch, 0);                   // one B for every batch
    Mat d = make(R_16F, m, n, m, rng, batch, int64_t(m * n));
    check_product(OP_T, OP_N, a, b, d, d, 1.0f, 0.0f, EPILOGUE_DEFAULT, nullptr, 2e-3, h);
    for (Mat* x : {&a, &b, &d}) release(*x);
    CHECK_EQ(cublasLtDestroy(h), STATUS_SUCCESS);
}

TEST(heuristic_answers) {
    setup();
    cublasLtHandle_t h = nullptr;
    CHECK_EQ(cublasLtCreate(&h), STATUS_SUCCESS);
    std::mt19937 rng(4);
    Mat a = make(R_16F, 16, 8, 16, rng), b = make(R_16F, 16, 4, 16, rng), d = make(R_16F, 8, 4, 8, rng);
    Mat f = make(R_32F, 16, 4, 16, rng), shortld = make(R_16F, 8, 4, 8, rng);
    cublasLtMatmulDesc_t op = desc(OP_T, OP_N);
    cublasLtMatmulPreference_t pref = nullptr;
    CHECK_EQ(cublasLtMatmulPreferenceCreate(&pref), STATUS_SUCCESS);
    uint64_t max_ws = 0;
    CHECK_EQ(cublasLtMatmulPreferenceSetAttribute(pref, PREF_MAX_WORKSPACE_BYTES, &max_ws, 8), STATUS_SUCCESS);
    CHECK_EQ(cublasLtMatmulPreferenceSetAttribute(pref, PREF_MAX_WORKSPACE_BYTES, &max_ws, 4), STATUS_INVALID_VALUE);
    cublasLtMatmulHeuristicResult_t r[4] = {};
    int count = -1;
    CHECK_EQ(cublasLtMatmulAlgoGetHeuristic(h, op, a.layout, b.layout, d.layout, d.layout, pref, 4, r, &count), STATUS_SUCCESS);
    CHECK_EQ(count, 1);
    CHECK_EQ(r[0].state, STATUS_SUCCESS);
    CHECK(r[0].workspaceSize <= max_ws);
    CHECK_EQ(cublasLtMatmulAlgoGetHeuristic(h, op, a.layout, b.layout, d.layout, d.layout, pref, 0, r, &count), STATUS_INVALID_VALUE);
    CHECK_EQ(cublasLtMatmulAlgoGetHeuristic(nullptr, op, a.layout, b.layout, d.layout, d.layout, pref, 1, r, &count), STATUS_NOT_INITIALIZED);
    // A f16 with B f32: not a type combination of the matmul table.
    CHECK_EQ(cublasLtMatmulAlgoGetHeuristic(h, op, a.layout, f.layout, d.layout, d.layout, pref, 1, r, &count), STATUS_NOT_SUPPORTED);
    CHECK_EQ(count, 0);
    // Shapes that do not chain: op(A) is 8x16, B is 8x4.
    CHECK_EQ(cublasLtMatmulAlgoGetHeuristic(h, op, a.layout, shortld.layout, d.layout, d.layout, pref, 1, r, &count), STATUS_INVALID_VALUE);
    // ld < rows.
    int64_t ld = 4;
    CHECK_EQ(cublasLtMatrixLayoutSetAttribute(shortld.layout, LAYOUT_LD, &ld, 8), STATUS_SUCCESS);
    CHECK_EQ(cublasLtMatmulAlgoGetHeuristic(h, op, a.layout, b.layout, shortld.layout, shortld.layout, pref, 1, r, &count), STATUS_INVALID_VALUE);
    // Pointers only 1-byte aligned exclude every algorithm for 2-byte elements.
    uint32_t align = 1;
    CHECK_EQ(cublasLtMatmulPreferenceSetAttribute(pref, PREF_MIN_ALIGNMENT_A_BYTES, &align, 4), STATUS_SUCCESS);
    CHECK_EQ(cublasLtMatmulAlgoGetHeuristic(h, op, a.layout, b.layout, d.layout, d.layout, pref, 1, r, &count), STATUS_NOT_SUPPORTED);
    align = 2;
    CHECK_EQ(cublasLtMatmulPreferenceSetAttribute(pref, PREF_MIN_ALIGNMENT_A_BYTES, &align, 4), STATUS_SUCCESS);
    CHECK_EQ(cublasLtMatmulAlgoGetHeuristic(h, op, a.layout, b.layout, d.layout, d.layout, pref, 1, r, &count), STATUS_SUCCESS);
    // Unsupported epilogue (DRELU_BGRAD = 152) and compute/scale mismatch.
    uint32_t epi = 152;
    CHECK_EQ(cublasLtMatmulDescSetAttribute(op, DESC_EPILOGUE, &epi, 4), STATUS_SUCCESS);
    CHECK_EQ(cublasLtMatmulAlgoGetHeuristic(h, op, a.layout, b.layout, d.layout, d.layout, pref, 1, r, &count), STATUS_NOT_SUPPORTED);
    cublasLtMatmulDesc_t half_scale = nullptr;
    CHECK_EQ(cublasLtMatmulDescCreate(&half_scale, COMPUTE_32F, R_16F), STATUS_SUCCESS);
    CHECK_EQ(cublasLtMatmulAlgoGetHeuristic(h, half_scale, a.layout, b.layout, d.layout, d.layout, pref, 1, r, &count), STATUS_NOT_SUPPORTED);
    CHECK_EQ(cublasLtMatmulDescDestroy(half_scale), STATUS_SUCCESS);
    CHECK_EQ(cublasLtMatmulPreferenceDestroy(pref), STATUS_SUCCESS);
    CHECK_EQ(cublasLtMatmulPreferenceDestroy(pref), STATUS_INVALID_VALUE);
    CHECK_EQ(cublasLtMatmulDescDestroy(op), STATUS_SUCCESS);
    for (Mat* x : {&a, &b, &d, &f, &shortld}) release(*x);
    CHECK_EQ(cublasLtDestroy(h), STATUS_SUCCESS);
}

TEST(matmul_refusals_and_status_names) {
    setup();
    cublasLtHandle_t h = nullptr;
    CHECK_EQ(cublasLtCreate(&h), STATUS_SUCCESS);
    std::mt19937 rng(5);
    Mat a = make(R_32F, 4, 4, 4, rng), b = make(R_32F, 4, 4, 4, rng), d = make(R_32F, 4, 4, 4, rng);
    float one = 1, zero = 0;
    void *A = reinterpret_cast<void*>(a.dev), *B = reinterpret_cast<void*>(b.dev), *D = reinterpret_cast<void*>(d.dev);
    cublasLtMatmulDesc_t op = desc(OP_N, OP_N, EPILOGUE_BIAS);  // bias epilogue, no bias pointer
    CHECK_EQ(cublasLtMatmul(h, op, &one, A, a.layout, B, b.layout, &zero, D, d.layout, D, d.layout, nullptr, nullptr, 0, nullptr),
             STATUS_INVALID_VALUE);
    CHECK_EQ(cublasLtMatmulDescDestroy(op), STATUS_SUCCESS);
    op = desc(OP_N, OP_N);
    cublasLtMatmulAlgo_t foreign = {};
    CHECK_EQ(cublasLtMatmul(h, op, &one, A, a.layout, B, b.layout, &zero, D, d.layout, D, d.layout, &foreign, nullptr, 0, nullptr),
             STATUS_INVALID_VALUE);
    CHECK_EQ(cublasLtMatmul(h, op, nullptr, A, a.layout, B, b.layout, &zero, D, d.layout, D, d.layout, nullptr, nullptr, 0, nullptr),
             STATUS_INVALID_VALUE);
    CHECK_EQ(cublasLtMatmul(h, op, &one, A, a.layout, B, b.layout, &zero, D, d.layout, D, d.layout, nullptr, nullptr, 64, nullptr),
             STATUS_INVALID_VALUE);  // workspace size without a workspace
    int bad_size = 0;
    CHECK_EQ(cublasLtMatmulDescSetAttribute(op, DESC_TRANSA, &bad_size, 8), STATUS_INVALID_VALUE);
    CHECK_EQ(cublasLtMatmulDescSetAttribute(op, 9999, &bad_size, 4), STATUS_INVALID_VALUE);
    CHECK_EQ(cublasLtDestroy(h), STATUS_SUCCESS);
    CHECK_EQ(cublasLtMatmul(h, op, &one, A, a.layout, B, b.layout, &zero, D, d.layout, D, d.layout, nullptr, nullptr, 0, nullptr),
             STATUS_NOT_INITIALIZED);  // destroyed handle
    CHECK_EQ(cublasLtDestroy(h), STATUS_NOT_INITIALIZED);
    CHECK_EQ(std::string(cublasLtGetStatusName(STATUS_NOT_SUPPORTED)), std::string("CUBLAS_STATUS_NOT_SUPPORTED"));
    CHECK(std::string(cublasLtGetStatusString(STATUS_INVALID_VALUE)).size() > 0);
    CHECK(cublasLtGetVersion() >= 120000);
    CHECK_EQ(cublasLtMatmulDescDestroy(op), STATUS_SUCCESS);
    for (Mat* x : {&a, &b, &d}) release(*x);
}

TEST(matmul_is_stream_work_and_is_captured) {  // last: ends with a sticky fault
    setup();
    cublasLtHandle_t h = nullptr;
    CHECK_EQ(cublasLtCreate(&h), STATUS_SUCCESS);
    std::mt19937 rng(6);
    Mat a = make(R_32F, 3, 3, 3, rng), b = make(R_32F, 3, 3, 3, rng), d = make(R_32F, 3, 3, 3, rng);
    CUstream s = pdemu_test::new_stream();
    cublasLtMatmulDesc_t op = desc(OP_N, OP_N);
    float one = 1, zero = 0;
    void *A = reinterpret_cast<void*>(a.dev), *B = reinterpret_cast<void*>(b.dev), *D = reinterpret_cast<void*>(d.dev);
    CHECK_EQ(cuMemsetD8Async(d.dev, 0, 36, s), cu::SUCCESS);
    CHECK_EQ(cuStreamBeginCapture_v2(s, cu::CAPTURE_MODE_RELAXED), cu::SUCCESS);
    CHECK_EQ(cublasLtMatmul(h, op, &one, A, a.layout, B, b.layout, &zero, D, d.layout, D, d.layout, nullptr, nullptr, 0, s),
             STATUS_SUCCESS);
    CHECK_EQ(download(d)[0], 0.0);  // recorded, not run
    CUgraph g = nullptr;
    CUgraphExec x = nullptr;
    CHECK_EQ(cuStreamEndCapture(s, &g), cu::SUCCESS);
    CHECK_EQ(cuGraphInstantiateWithFlags(&x, g, 0), cu::SUCCESS);
    CHECK_EQ(cuGraphLaunch(x, s), cu::SUCCESS);
    double want = a.at(0, 0, 0) * b.at(0, 0, 0) + a.at(0, 0, 1) * b.at(0, 1, 0) + a.at(0, 0, 2) * b.at(0, 2, 0);
    CHECK_NEAR(download(d)[0], want, 1e-5);
    // D's layout claims more than its allocation holds: the work faults like a kernel reading out of bounds.
    Mat big = make(R_32F, 64, 64, 64, rng);
    CHECK_EQ(cublasLtMatmul(h, op, &one, A, a.layout, B, b.layout, &zero, D, big.layout, D, big.layout, nullptr, nullptr, 0, s),
             STATUS_INVALID_VALUE);  // shapes do not chain
    Mat a64 = make(R_32F, 64, 3, 64, rng);
    CHECK_EQ(cublasLtMatmul(h, op, &one, A, a64.layout, B, b.layout, &zero, D, d.layout, D, d.layout, nullptr, nullptr, 0, s),
             STATUS_INVALID_VALUE);
    cublasLtMatrixLayout_t wide = nullptr;
    CHECK_EQ(cublasLtMatrixLayoutCreate(&wide, R_32F, 64, 3, 64), STATUS_SUCCESS);
    CHECK_EQ(cublasLtMatmul(h, op, &one, reinterpret_cast<void*>(a64.dev), a64.layout, B, b.layout, &zero, D, wide, D, wide,
                            nullptr, nullptr, 0, s),
             STATUS_EXECUTION_FAILED);
    CHECK(std::string(pdemuLastErrorDetail()).find("cublasLtMatmul: D") != std::string::npos);
    CHECK_EQ(cuCtxSynchronize(), cu::ERROR_ILLEGAL_ADDRESS);
}

PDEMU_TEST_MAIN
