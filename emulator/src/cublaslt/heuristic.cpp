// The problem checks cuBLASLt makes (types, shapes, leading dimensions, batches, epilogues) and
// cublasLtMatmulAlgoGetHeuristic: the emulator has one algorithm, the reference loop, which needs no workspace and
// operands aligned to their element size.
#include "cublaslt/lt.h"

#include <cmath>

using namespace pdemu;
using namespace pdemu::lt;

namespace pdemu::lt {
namespace {

bool is_f32_compute(int c) {
    return c == COMPUTE_32F || c == COMPUTE_32F_PEDANTIC || c == COMPUTE_32F_FAST_16F || c == COMPUTE_32F_FAST_16BF ||
           c == COMPUTE_32F_FAST_TF32;
}

/** Type combinations of the cuBLASLt matmul table the emulator implements. */
bool supported_types(int compute, int scale, int a, int b, int c, int d) {
    if (c != d || a != b) return false;
    if (is_f32_compute(compute) && scale == R_32F) {
        if (a == R_32F) return c == R_32F;
        if (a == R_16F) return c == R_16F || c == R_32F;
        if (a == R_16BF) return c == R_16BF || c == R_32F;
        return false;
    }
    if ((compute == COMPUTE_16F || compute == COMPUTE_16F_PEDANTIC) && scale == R_16F) return a == R_16F && c == R_16F;
    return false;
}

bool supported_epilogue(uint32_t e) {
    return e == EPILOGUE_DEFAULT || e == EPILOGUE_RELU || e == EPILOGUE_BIAS || e == EPILOGUE_RELU_BIAS ||
           e == EPILOGUE_GELU || e == EPILOGUE_GELU_BIAS;
}

std::string name(const char* which, const Layout& l) {
    return std::string(which) + " (" + std::to_string(l.rows) + "x" + std::to_string(l.cols) + ", ld " + std::to_string(l.ld) + ")";
}

cublasStatus_t check_layout(const Layout& l, const char* which, const char* api) {
    if (l.order != ORDER_COL && l.order != ORDER_ROW)
        return fail(STATUS_NOT_SUPPORTED, std::string(api) + ": " + which + " has an order other than COL or ROW");
    uint64_t need = l.order == ORDER_COL ? l.rows : l.cols;
    if (l.ld < 1 || uint64_t(l.ld) < need)
        return fail(STATUS_INVALID_VALUE, std::string(api) + ": " + name(which, l) + ": the leading dimension is smaller than " +
                                              (l.order == ORDER_COL ? "rows" : "cols"));
    if (l.batch < 1) return fail(STATUS_INVALID_VALUE, std::string(api) + ": " + which + " batch count < 1");
    if (l.batch > 1 && l.stride < 0) return fail(STATUS_INVALID_VALUE, std::string(api) + ": " + which + " negative batch stride");
    return STATUS_SUCCESS;
}

}  // namespace

cublasStatus_t check_problem(const MatmulDesc& d, const Layout& a, const Layout& b, const Layout& c, const Layout& dl,
                             Problem* out, const char* api) {
    if (!supported_types(d.compute, d.scale, a.type, b.type, c.type, dl.type))
        return fail(STATUS_NOT_SUPPORTED, std::string(api) + ": compute type " + std::to_string(d.compute) + ", scale type " +
                                              std::to_string(d.scale) + ", A/B/C/D types " + std::to_string(a.type) + "/" +
                                              std::to_string(b.type) + "/" + std::to_string(c.type) + "/" +
                                              std::to_string(dl.type) + " is not a supported combination");
    if ((d.transa != OP_N && d.transa != OP_T) || (d.transb != OP_N && d.transb != OP_T))
        return fail(STATUS_NOT_SUPPORTED, std::string(api) + ": TRANSA/TRANSB must be CUBLAS_OP_N or CUBLAS_OP_T for real types");
    if (d.transc != OP_N) return fail(STATUS_NOT_SUPPORTED, std::string(api) + ": TRANSC must be CUBLAS_OP_N");
    if (d.pointer_mode != POINTER_MODE_HOST && d.pointer_mode != POINTER_MODE_DEVICE)
        return fail(STATUS_NOT_SUPPORTED, std::string(api) + ": only host and device scalar pointer modes are emulated");
    if (!supported_epilogue(d.epilogue))
        return fail(STATUS_NOT_SUPPORTED, std::string(api) + ": epilogue " + std::to_string(d.epilogue) + " is not emulated");
    bool bias = d.epilogue == EPILOGUE_BIAS || d.epilogue == EPILOGUE_RELU_BIAS || d.epilogue == EPILOGUE_GELU_BIAS;
    if (bias && d.bias_type != -1 && d.bias_type != dl.type && d.bias_type != R_32F)
        return fail(STATUS_NOT_SUPPORTED, std::string(api) + ": bias data type " + std::to_string(d.bias_type) +
                                              " is neither D's type nor CUDA_R_32F");
    for (auto [l, w] : {std::pair{&a, "A"}, std::pair{&b, "B"}, std::pair{&c, "C"}, std::pair{&dl, "D"}})
        if (cublasStatus_t s = check_layout(*l, w, api)) return s;
    uint64_t m = d.transa == OP_T ? a.cols : a.rows, k = d.transa == OP_T ? a.rows : a.cols;
    uint64_t kb = d.transb == OP_T ? b.cols : b.rows, n = d.transb == OP_T ? b.rows : b.cols;
    if (k != kb || c.rows != m || c.cols != n || dl.rows != m || dl.cols != n)
        return fail(STATUS_INVALID_VALUE, std::string(api) + ": shapes do not match: op(A) " + std::to_string(m) + "x" +
                                              std::to_string(k) + ", op(B) " + std::to_string(kb) + "x" + std::to_string(n) +
                                              ", C " + std::to_string(c.rows) + "x" + std::to_string(c.cols) + ", D " +
                                              std::to_string(dl.rows) + "x" + std::to_string(dl.cols));
    if (a.batch != dl.batch || b.batch != dl.batch || c.batch != dl.batch)
        return fail(STATUS_INVALID_VALUE, std::string(api) + ": batch counts differ (A " + std::to_string(a.batch) + ", B " +
                                              std::to_string(b.batch) + ", C " + std::to_string(c.batch) + ", D " +
                                              std::to_string(dl.batch) + ")");
    out->m = m;
    out->n = n;
    out->k = k;
    out->batch = dl.batch;
    return STATUS_SUCCESS;
}

}  // namespace pdemu::lt

PDEMU_API cublasStatus_t cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t lightHandle, cublasLtMatmulDesc_t operationDesc,
                                                        cublasLtMatrixLayout_t Adesc, cublasLtMatrixLayout_t Bdesc,
                                                        cublasLtMatrixLayout_t Cdesc, cublasLtMatrixLayout_t Ddesc,
                                                        cublasLtMatmulPreference_t preference, int requestedAlgoCount,
                                                        cublasLtMatmulHeuristicResult_t heuristicResultsArray[],
                                                        int* returnAlgoCount) {
    static const char* api = "cublasLtMatmulAlgoGetHeuristic";
    if (!lightHandle || !handles().has(lightHandle)) return fail(STATUS_NOT_INITIALIZED, std::string(api) + ": not a live handle");
    if (requestedAlgoCount < 1 || !heuristicResultsArray || !returnAlgoCount)
        return fail(STATUS_INVALID_VALUE, std::string(api) + ": requestedAlgoCount < 1 or a NULL output");
    if (!descs().has(operationDesc) || !layouts().has(Adesc) || !layouts().has(Bdesc) || !layouts().has(Cdesc) ||
        !layouts().has(Ddesc) || !preferences().has(preference))
        return fail(STATUS_INVALID_VALUE, std::string(api) + ": a descriptor, layout or preference is not live");
    *returnAlgoCount = 0;
    const auto& d = *reinterpret_cast<const MatmulDesc*>(operationDesc);
    const auto& a = *reinterpret_cast<const Layout*>(Adesc);
    const auto& b = *reinterpret_cast<const Layout*>(Bdesc);
    const auto& c = *reinterpret_cast<const Layout*>(Cdesc);
    const auto& dl = *reinterpret_cast<const Layout*>(Ddesc);
    const auto& p = *reinterpret_cast<const Preference*>(preference);
    Problem problem;
    if (cublasStatus_t s = check_problem(d, a, b, c, dl, &problem, api)) return s;
    const Layout* ops[4] = {&a, &b, &c, &dl};
    for (int i = 0; i < 4; ++i) {
        uint32_t need = uint32_t(element_size(ops[i]->type));
        if (p.align[i] < need)
            return fail(STATUS_NOT_SUPPORTED, std::string(api) + ": no algorithm works with " + "ABCD"[i] + " aligned to " +
                                                  std::to_string(p.align[i]) + " bytes (the reference algorithm needs " +
                                                  std::to_string(need) + ", the element size)");
    }
    cublasLtMatmulHeuristicResult_t& r = heuristicResultsArray[0];
    r = {};
    r.algo.data[0] = kAlgoMagic;
    r.workspaceSize = 0;  // the reference loop uses no workspace, so it fits any MAX_WORKSPACE_BYTES
    r.state = STATUS_SUCCESS;
    double tiles = std::ceil(double(problem.m) / 128.0) * std::ceil(double(problem.n) / 128.0) * problem.batch;
    r.wavesCount = float(tiles / 132.0);  // 128x128 output tiles over 132 SMs
    *returnAlgoCount = 1;
    return STATUS_SUCCESS;
}
