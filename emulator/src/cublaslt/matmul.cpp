// cublasLtMatmul: D = epilogue(alpha * op(A) . op(B) + beta * C (+ bias per row of D)), each batch, computed by a
// reference loop with f32 accumulation and rounded once to D's type, enqueued on the stream (so a capture records
// it). Operand ranges are checked against device memory when the work runs, like a kernel's accesses.
#include "cublaslt/lt.h"

#include "driver/memory.h"
#include "driver/numeric.h"
#include "driver/parallel.h"
#include "driver/state.h"

#include <cmath>
#include <vector>

using namespace pdemu;
using namespace pdemu::lt;

namespace {

float load(int type, const void* base, uint64_t i) {
    switch (type) {
        case R_16F: return num::half_to_float(static_cast<const uint16_t*>(base)[i]);
        case R_16BF: return num::bf16_to_float(static_cast<const uint16_t*>(base)[i]);
        default: return static_cast<const float*>(base)[i];
    }
}

void store(int type, void* base, uint64_t i, float v) {
    switch (type) {
        case R_16F: static_cast<uint16_t*>(base)[i] = num::float_to_half(v); break;
        case R_16BF: static_cast<uint16_t*>(base)[i] = num::float_to_bf16(v); break;
        default: static_cast<float*>(base)[i] = v; break;
    }
}

uint64_t index(const Layout& l, uint64_t r, uint64_t c) {
    return l.order == ORDER_COL ? r + c * uint64_t(l.ld) : r * uint64_t(l.ld) + c;
}

/** Elements an operand spans over all its batches (0 when empty). */
uint64_t span(const Layout& l) {
    if (l.rows == 0 || l.cols == 0) return 0;
    uint64_t one = l.order == ORDER_COL ? (l.cols - 1) * uint64_t(l.ld) + l.rows : (l.rows - 1) * uint64_t(l.ld) + l.cols;
    return one + uint64_t(l.batch - 1) * uint64_t(l.stride);
}

float gelu(float x) {  // the tanh approximation
    const float c = 0.7978845608028654f;  // sqrt(2/pi)
    return 0.5f * x * (1.0f + std::tanh(c * (x + 0.044715f * x * x * x)));
}

struct Task {
    MatmulDesc desc;
    Layout a, b, c, d;
    Problem p;
    uint64_t pa, pb, pc, pd;
    const void* alpha_ptr;  // host values are copied below; device pointers are read when the work runs
    const void* beta_ptr;
    float alpha = 1, beta = 0;
};

float scalar(int type, const void* p) { return type == R_16F ? num::half_to_float(*static_cast<const uint16_t*>(p)) : *static_cast<const float*>(p); }

void* resolve(uint64_t address, uint64_t bytes, bool write, const char* what) {
    std::string why;
    void* p = drv::memory().resolve(address, bytes, write, &why);
    if (!p) drv::fail(cu::ERROR_ILLEGAL_ADDRESS, std::string("cublasLtMatmul: ") + what + " " + why);
    return p;
}

CUresult run(Task t) {
    const Problem& p = t.p;
    if (p.m == 0 || p.n == 0) return cu::SUCCESS;
    int scale_size = t.desc.scale == R_16F ? 2 : 4;
    if (t.desc.pointer_mode == POINTER_MODE_DEVICE) {
        const void* al = resolve(reinterpret_cast<uint64_t>(t.alpha_ptr), scale_size, false, "alpha");
        const void* be = al ? resolve(reinterpret_cast<uint64_t>(t.beta_ptr), scale_size, false, "beta") : nullptr;
        if (!al || !be) return cu::ERROR_ILLEGAL_ADDRESS;
        t.alpha = scalar(t.desc.scale, al);
        t.beta = scalar(t.desc.scale, be);
    }
    bool bias = t.desc.epilogue == EPILOGUE_BIAS || t.desc.epilogue == EPILOGUE_RELU_BIAS || t.desc.epilogue == EPILOGUE_GELU_BIAS;
    int bias_type = t.desc.bias_type == -1 ? t.d.type : t.desc.bias_type;
    const void *A = nullptr, *B = nullptr, *C = nullptr, *BIAS = nullptr;
    void* D = resolve(t.pd, span(t.d) * element_size(t.d.type), true, "D");
    if (!D) return cu::ERROR_ILLEGAL_ADDRESS;
    if (p.k > 0) {
        A = resolve(t.pa, span(t.a) * element_size(t.a.type), false, "A");
        B = A ? resolve(t.pb, span(t.b) * element_size(t.b.type), false, "B") : nullptr;
        if (!A || !B) return cu::ERROR_ILLEGAL_ADDRESS;
    }
    if (t.beta != 0.0f && !(C = resolve(t.pc, span(t.c) * element_size(t.c.type), false, "C"))) return cu::ERROR_ILLEGAL_ADDRESS;
    if (bias) {
        uint64_t n = p.m + uint64_t(p.batch - 1) * uint64_t(t.desc.bias_batch_stride);
        if (!(BIAS = resolve(t.desc.bias, n * element_size(bias_type), false, "bias"))) return cu::ERROR_ILLEGAL_ADDRESS;
    }
    std::vector<float> af(p.m * p.k), bf(p.n * p.k);
    for (int batch = 0; batch < p.batch; ++batch) {
        uint64_t oa = uint64_t(batch) * t.a.stride, ob = uint64_t(batch) * t.b.stride;
        uint64_t oc = uint64_t(batch) * t.c.stride, od = uint64_t(batch) * t.d.stride;
        par::parallel_for(p.m, 64, [&](size_t i0, size_t i1) {
            for (uint64_t i = i0; i < i1; ++i)
                for (uint64_t kk = 0; kk < p.k; ++kk)
                    af[i * p.k + kk] = load(t.a.type, A, oa + (t.desc.transa == OP_N ? index(t.a, i, kk) : index(t.a, kk, i)));
        });
        par::parallel_for(p.n, 64, [&](size_t j0, size_t j1) {
            for (uint64_t j = j0; j < j1; ++j)
                for (uint64_t kk = 0; kk < p.k; ++kk)
                    bf[j * p.k + kk] = load(t.b.type, B, ob + (t.desc.transb == OP_N ? index(t.b, kk, j) : index(t.b, j, kk)));
        });
        uint64_t obias = uint64_t(batch) * uint64_t(t.desc.bias_batch_stride);
        auto emit = [&](uint64_t i, uint64_t j, float acc) {
            float v = t.alpha * acc;
            if (C) v += t.beta * load(t.c.type, C, oc + index(t.c, i, j));
            if (BIAS) v += load(bias_type, BIAS, obias + i);
            if (t.desc.epilogue == EPILOGUE_RELU || t.desc.epilogue == EPILOGUE_RELU_BIAS) v = v > 0.0f ? v : 0.0f;
            if (t.desc.epilogue == EPILOGUE_GELU || t.desc.epilogue == EPILOGUE_GELU_BIAS) v = gelu(v);
            store(t.d.type, D, od + index(t.d, i, j), v);
        };
        // Blocks of rows of op(A) small enough to stay in cache while the columns of op(B) stream past.
        const uint64_t rows = std::max<uint64_t>(4, (16384 / std::max<uint64_t>(1, p.k)) / 4 * 4);
        par::parallel_for(p.n, std::max<size_t>(1, 65536 / std::max<uint64_t>(1, p.m * p.k)), [&](size_t j0, size_t j1) {
            for (uint64_t i0 = 0; i0 < p.m; i0 += rows) {
                uint64_t i1 = std::min(p.m, i0 + rows);
                for (uint64_t j = j0; j < j1; ++j) {
                    const float* bj = &bf[j * p.k];
                    uint64_t i = i0;
                    float acc[4];
                    for (; i + 4 <= i1; i += 4) {
                        num::dot4(&af[i * p.k], &af[(i + 1) * p.k], &af[(i + 2) * p.k], &af[(i + 3) * p.k], bj, p.k, acc);
                        for (int r = 0; r < 4; ++r) emit(i + r, j, acc[r]);
                    }
                    for (; i < i1; ++i) emit(i, j, num::dot(&af[i * p.k], bj, p.k));
                }
            }
        });
    }
    return cu::SUCCESS;
}

}  // namespace

PDEMU_API cublasStatus_t cublasLtMatmul(cublasLtHandle_t lightHandle, cublasLtMatmulDesc_t computeDesc, const void* alpha,
                                        const void* A, cublasLtMatrixLayout_t Adesc, const void* B,
                                        cublasLtMatrixLayout_t Bdesc, const void* beta, const void* C,
                                        cublasLtMatrixLayout_t Cdesc, void* D, cublasLtMatrixLayout_t Ddesc,
                                        const cublasLtMatmulAlgo_t* algo, void* workspace, size_t workspaceSizeInBytes,
                                        CUstream stream) {
    static const char* api = "cublasLtMatmul";
    if (!lightHandle || !handles().has(lightHandle)) return fail(STATUS_NOT_INITIALIZED, std::string(api) + ": not a live handle");
    if (!descs().has(computeDesc) || !layouts().has(Adesc) || !layouts().has(Bdesc) || !layouts().has(Cdesc) ||
        !layouts().has(Ddesc))
        return fail(STATUS_INVALID_VALUE, std::string(api) + ": a descriptor or layout is not live");
    if (!alpha || !beta) return fail(STATUS_INVALID_VALUE, std::string(api) + ": alpha or beta is NULL");
    Task t;
    t.desc = *reinterpret_cast<const MatmulDesc*>(computeDesc);
    t.a = *reinterpret_cast<const Layout*>(Adesc);
    t.b = *reinterpret_cast<const Layout*>(Bdesc);
    t.c = *reinterpret_cast<const Layout*>(Cdesc);
    t.d = *reinterpret_cast<const Layout*>(Ddesc);
    if (cublasStatus_t s = check_problem(t.desc, t.a, t.b, t.c, t.d, &t.p, api)) return s;
    if (algo && algo->data[0] != kAlgoMagic)
        return fail(STATUS_INVALID_VALUE, std::string(api) + ": algo was not returned by cublasLtMatmulAlgoGetHeuristic");
    if (workspaceSizeInBytes > 0 && !workspace)
        return fail(STATUS_INVALID_VALUE, std::string(api) + ": workspaceSizeInBytes > 0 with a NULL workspace");
    bool bias = t.desc.epilogue == EPILOGUE_BIAS || t.desc.epilogue == EPILOGUE_RELU_BIAS || t.desc.epilogue == EPILOGUE_GELU_BIAS;
    if (bias && t.desc.bias == 0) return fail(STATUS_INVALID_VALUE, std::string(api) + ": bias epilogue without BIAS_POINTER");
    t.pa = reinterpret_cast<uint64_t>(A);
    t.pb = reinterpret_cast<uint64_t>(B);
    t.pc = reinterpret_cast<uint64_t>(C);
    t.pd = reinterpret_cast<uint64_t>(D);
    if (!D || (t.p.k > 0 && (!A || !B))) return fail(STATUS_INVALID_VALUE, std::string(api) + ": A, B or D is NULL");
    if (C == D && (t.c.type != t.d.type || t.c.order != t.d.order || t.c.ld != t.d.ld || t.c.stride != t.d.stride))
        return fail(STATUS_INVALID_VALUE, std::string(api) + ": in-place (C == D) needs identical C and D layouts");
    const std::pair<uint64_t, const Layout*> ops[4] = {{t.pa, &t.a}, {t.pb, &t.b}, {t.pc, &t.c}, {t.pd, &t.d}};
    for (int i = 0; i < 4; ++i)
        if (ops[i].first % element_size(ops[i].second->type))
            return fail(STATUS_INVALID_VALUE, std::string(api) + ": " + "ABCD"[i] + " is not aligned to its element size");
    t.alpha_ptr = alpha;
    t.beta_ptr = beta;
    if (t.desc.pointer_mode == POINTER_MODE_HOST) {
        t.alpha = scalar(t.desc.scale, alpha);
        t.beta = scalar(t.desc.scale, beta);
        if (t.beta != 0.0f && !C) return fail(STATUS_INVALID_VALUE, std::string(api) + ": beta != 0 with a NULL C");
    }
    std::string what = "cublasLtMatmul " + std::to_string(t.p.m) + "x" + std::to_string(t.p.n) + "x" + std::to_string(t.p.k) +
                       (t.p.batch > 1 ? " batch " + std::to_string(t.p.batch) : "");
    CUresult r = drv::enqueue_external(stream, what, [t]() { return run(t); }, api);
    if (r != cu::SUCCESS) return STATUS_EXECUTION_FAILED;  // the driver error and its detail are in pdemuLastErrorDetail
    return STATUS_SUCCESS;
}
