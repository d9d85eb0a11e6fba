// Shapes and algorithms: the output-dimension formula, the forward problem checks, and the algorithm queries. The
// emulator implements IMPLICIT_GEMM and IMPLICIT_PRECOMP_GEMM (the reference loop, no workspace) and GEMM (an
// explicit im2col matrix in the caller's workspace); the others answer CUDNN_STATUS_NOT_SUPPORTED.
#include "cudnn/dnn.h"

#include "driver/state.h"

#include <algorithm>
#include <chrono>
#include <vector>

using namespace pdemu;
using namespace pdemu::dnn;

namespace pdemu::dnn {

cudnnStatus_t output_dims(const Conv& conv, const Tensor& x, const Filter& w, int out[4], const char* api) {
    if (!conv.set || !x.set || !w.set) return fail(STATUS_BAD_PARAM, std::string(api) + ": a descriptor has not been set");
    if (x.c != w.c)
        return fail(STATUS_BAD_PARAM, std::string(api) + ": input has " + std::to_string(x.c) + " channels, the filter " +
                                          std::to_string(w.c));
    int ho = 1 + (x.h + 2 * conv.pad_h - ((w.h - 1) * conv.dil_h + 1)) / conv.u;
    int wo = 1 + (x.w + 2 * conv.pad_w - ((w.w - 1) * conv.dil_w + 1)) / conv.v;
    if (x.h + 2 * conv.pad_h < (w.h - 1) * conv.dil_h + 1 || x.w + 2 * conv.pad_w < (w.w - 1) * conv.dil_w + 1)
        return fail(STATUS_BAD_PARAM, std::string(api) + ": the (dilated) filter is larger than the padded input");
    out[0] = x.n;
    out[1] = w.k;
    out[2] = ho;
    out[3] = wo;
    return STATUS_SUCCESS;
}

cudnnStatus_t check_forward(cudnnTensorDescriptor_t x, cudnnFilterDescriptor_t w, cudnnConvolutionDescriptor_t conv,
                            cudnnTensorDescriptor_t y, Problem* out, const char* api) {
    if (!tensors().has(x) || !tensors().has(y) || !filters().has(w) || !convs().has(conv))
        return fail(STATUS_BAD_PARAM, std::string(api) + ": a descriptor is NULL or not live");
    Problem p{*reinterpret_cast<Tensor*>(x), *reinterpret_cast<Tensor*>(y), *reinterpret_cast<Filter*>(w),
              *reinterpret_cast<Conv*>(conv)};
    int dims[4];
    if (cudnnStatus_t s = output_dims(p.conv, p.x, p.w, dims, api)) return s;
    if (!p.y.set || p.y.n != dims[0] || p.y.c != dims[1] || p.y.h != dims[2] || p.y.w != dims[3])
        return fail(STATUS_BAD_PARAM, std::string(api) + ": y is " + std::to_string(p.y.n) + "x" + std::to_string(p.y.c) + "x" +
                                          std::to_string(p.y.h) + "x" + std::to_string(p.y.w) + ", the convolution gives " +
                                          std::to_string(dims[0]) + "x" + std::to_string(dims[1]) + "x" +
                                          std::to_string(dims[2]) + "x" + std::to_string(dims[3]));
    int t = p.x.type;
    bool same = p.y.type == t && p.w.type == t;
    bool config = same && ((t == DATA_FLOAT && p.conv.compute == DATA_FLOAT) ||                    // FLOAT_CONFIG
                           (t == DATA_HALF && (p.conv.compute == DATA_FLOAT || p.conv.compute == DATA_HALF)) ||  // (PSEUDO|TRUE)_HALF
                           (t == DATA_BFLOAT16 && p.conv.compute == DATA_FLOAT));                  // PSEUDO_BFLOAT16
    if (!config)
        return fail(STATUS_NOT_SUPPORTED, std::string(api) + ": x/w/y data types " + std::to_string(p.x.type) + "/" +
                                              std::to_string(p.w.type) + "/" + std::to_string(p.y.type) + " with compute type " +
                                              std::to_string(p.conv.compute) + " is not a supported configuration");
    if (p.x.format == FORMAT_NCHW_VECT_C || p.y.format == FORMAT_NCHW_VECT_C || p.w.format == FORMAT_NCHW_VECT_C)
        return fail(STATUS_NOT_SUPPORTED, std::string(api) + ": NCHW_VECT_C is for INT8x4/x32 data");
    *out = p;
    return STATUS_SUCCESS;
}

bool algo_supported(int algo) {
    return algo == ALGO_IMPLICIT_GEMM || algo == ALGO_IMPLICIT_PRECOMP_GEMM || algo == ALGO_GEMM;
}

size_t workspace_bytes(const Problem& p, int algo) {
    if (algo != ALGO_GEMM) return 0;
    // one image's im2col matrix: (Ho * Wo) rows of R * S * C floats
    return size_t(p.y.h) * p.y.w * p.w.h * p.w.w * p.w.c * sizeof(float);
}

}  // namespace pdemu::dnn

namespace {

constexpr int kRanking[ALGO_COUNT] = {ALGO_IMPLICIT_PRECOMP_GEMM, ALGO_IMPLICIT_GEMM, ALGO_GEMM, ALGO_DIRECT,
                                      ALGO_FFT, ALGO_FFT_TILING, ALGO_WINOGRAD, ALGO_WINOGRAD_NONFUSED};

cudnnConvolutionFwdAlgoPerf_t perf(int algo, cudnnStatus_t status, float time, size_t memory, int math) {
    cudnnConvolutionFwdAlgoPerf_t r{};
    r.algo = algo;
    r.status = status;
    r.time = time;
    r.memory = memory;
    r.determinism = kDeterministic;
    r.mathType = math;
    return r;
}

}  // namespace

PDEMU_API cudnnStatus_t cudnnGetConvolution2dForwardOutputDim(cudnnConvolutionDescriptor_t convDesc,
                                                              cudnnTensorDescriptor_t inputTensorDesc,
                                                              cudnnFilterDescriptor_t filterDesc, int* n, int* c, int* h,
                                                              int* w) {
    static const char* api = "cudnnGetConvolution2dForwardOutputDim";
    if (!n || !c || !h || !w) return fail(STATUS_BAD_PARAM, std::string(api) + ": an output pointer is NULL");
    if (!convs().has(convDesc) || !tensors().has(inputTensorDesc) || !filters().has(filterDesc))
        return fail(STATUS_BAD_PARAM, std::string(api) + ": a descriptor is NULL or not live");
    int dims[4];
    if (cudnnStatus_t s = output_dims(*reinterpret_cast<Conv*>(convDesc), *reinterpret_cast<Tensor*>(inputTensorDesc),
                                      *reinterpret_cast<Filter*>(filterDesc), dims, api))
        return s;
    *n = dims[0];
    *c = dims[1];
    *h = dims[2];
    *w = dims[3];
    return STATUS_SUCCESS;
}

PDEMU_API cudnnStatus_t cudnnGetConvolutionForwardAlgorithmMaxCount(cudnnHandle_t handle, int* count) {
    if (!handle || !handles().has(handle)) return fail(STATUS_BAD_PARAM, "cudnnGetConvolutionForwardAlgorithmMaxCount: not a live handle");
    if (!count) return fail(STATUS_BAD_PARAM, "cudnnGetConvolutionForwardAlgorithmMaxCount: count is NULL");
    *count = ALGO_COUNT;
    return STATUS_SUCCESS;
}

PDEMU_API cudnnStatus_t cudnnGetConvolutionForwardAlgorithm_v7(cudnnHandle_t handle, cudnnTensorDescriptor_t srcDesc,
                                                               cudnnFilterDescriptor_t filterDesc,
                                                               cudnnConvolutionDescriptor_t convDesc,
                                                               cudnnTensorDescriptor_t destDesc, int requestedAlgoCount,
                                                               int* returnedAlgoCount,
                                                               cudnnConvolutionFwdAlgoPerf_t* perfResults) {
    static const char* api = "cudnnGetConvolutionForwardAlgorithm_v7";
    if (!handle || !handles().has(handle)) return fail(STATUS_BAD_PARAM, std::string(api) + ": not a live handle");
    if (requestedAlgoCount <= 0 || !returnedAlgoCount || !perfResults)
        return fail(STATUS_BAD_PARAM, std::string(api) + ": requestedAlgoCount <= 0 or a NULL output");
    Problem p;
    if (cudnnStatus_t s = check_forward(srcDesc, filterDesc, convDesc, destDesc, &p, api)) return s;
    int count = std::min(requestedAlgoCount, int(ALGO_COUNT));
    for (int i = 0; i < count; ++i) {
        int algo = kRanking[i];
        bool ok = algo_supported(algo);
        perfResults[i] = perf(algo, ok ? STATUS_SUCCESS : STATUS_NOT_SUPPORTED, -1.0f, ok ? workspace_bytes(p, algo) : 0,
                              p.conv.math);
    }
    *returnedAlgoCount = count;
    return STATUS_SUCCESS;
}

PDEMU_API cudnnStatus_t cudnnGetConvolutionForwardWorkspaceSize(cudnnHandle_t handle, cudnnTensorDescriptor_t xDesc,
                                                                cudnnFilterDescriptor_t wDesc,
                                                                cudnnConvolutionDescriptor_t convDesc,
                                                                cudnnTensorDescriptor_t yDesc, int algo,
                                                                size_t* sizeInBytes) {
    static const char* api = "cudnnGetConvolutionForwardWorkspaceSize";
    if (!handle || !handles().has(handle)) return fail(STATUS_BAD_PARAM, std::string(api) + ": not a live handle");
    if (!sizeInBytes) return fail(STATUS_BAD_PARAM, std::string(api) + ": sizeInBytes is NULL");
    Problem p;
    if (cudnnStatus_t s = check_forward(xDesc, wDesc, convDesc, yDesc, &p, api)) return s;
    if (algo < 0 || algo >= ALGO_COUNT) return fail(STATUS_BAD_PARAM, std::string(api) + ": algo is not a valid enumerant");
    if (!algo_supported(algo)) return fail(STATUS_NOT_SUPPORTED, std::string(api) + ": algorithm " + std::to_string(algo) + " is not emulated");
    *sizeInBytes = workspace_bytes(p, algo);
    return STATUS_SUCCESS;
}

PDEMU_API cudnnStatus_t cudnnFindConvolutionForwardAlgorithmEx(
    cudnnHandle_t handle, cudnnTensorDescriptor_t xDesc, const void* x, cudnnFilterDescriptor_t wDesc, const void* w,
    cudnnConvolutionDescriptor_t convDesc, cudnnTensorDescriptor_t yDesc, void* y, int requestedAlgoCount,
    int* returnedAlgoCount, cudnnConvolutionFwdAlgoPerf_t* perfResults, void* workSpace, size_t workSpaceSizeInBytes) {
    static const char* api = "cudnnFindConvolutionForwardAlgorithmEx";
    if (!handle || !handles().has(handle)) return fail(STATUS_BAD_PARAM, std::string(api) + ": not a live handle");
    if (requestedAlgoCount <= 0 || !returnedAlgoCount || !perfResults || !x || !w || !y)
        return fail(STATUS_BAD_PARAM, std::string(api) + ": requestedAlgoCount <= 0 or a NULL pointer");
    Problem p;
    if (cudnnStatus_t s = check_forward(xDesc, wDesc, convDesc, yDesc, &p, api)) return s;
    CUstream stream = reinterpret_cast<Handle*>(handle)->stream;
    if (drv::stream_is_capturing(stream))
        return fail(STATUS_EXECUTION_FAILED, std::string(api) + ": benchmarking synchronizes the handle's stream, which "
                                                                "is being captured");
    std::vector<cudnnConvolutionFwdAlgoPerf_t> done, failed;
    for (int algo : kRanking) {
        size_t need = algo_supported(algo) ? workspace_bytes(p, algo) : 0;
        if (!algo_supported(algo) || need > workSpaceSizeInBytes || (need && !workSpace)) {
            failed.push_back(perf(algo, STATUS_NOT_SUPPORTED, -1.0f, need, p.conv.math));
            continue;
        }
        auto start = std::chrono::steady_clock::now();
        CUresult r = drv::enqueue_external(stream, "cudnnFindConvolutionForwardAlgorithmEx trial", [=]() {
            return convolve(p, algo, 1.0f, 0.0f, reinterpret_cast<uint64_t>(x), reinterpret_cast<uint64_t>(w),
                            reinterpret_cast<uint64_t>(y), reinterpret_cast<uint64_t>(workSpace), workSpaceSizeInBytes);
        }, api);
        if (r != cu::SUCCESS) return fail(STATUS_EXECUTION_FAILED, drv::last_detail());
        std::chrono::duration<float, std::milli> ms = std::chrono::steady_clock::now() - start;
        done.push_back(perf(algo, STATUS_SUCCESS, ms.count(), need, p.conv.math));
    }
    std::stable_sort(done.begin(), done.end(), [](auto& a, auto& b) { return a.time < b.time; });
    done.insert(done.end(), failed.begin(), failed.end());
    int count = std::min<int>(requestedAlgoCount, int(done.size()));
    std::copy(done.begin(), done.begin() + count, perfResults);
    *returnedAlgoCount = count;
    return STATUS_SUCCESS;
}
