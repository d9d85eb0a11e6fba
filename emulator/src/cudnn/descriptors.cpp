// cuDNN handles (bound to a stream) and the tensor, filter and convolution descriptors, with the parameter checks
// the cuDNN documentation gives for each setter; the version and cudnnGetErrorString.
#include "cudnn/dnn.h"

#include "driver/state.h"

using namespace pdemu;
using namespace pdemu::dnn;

namespace pdemu::dnn {

Registry<Handle>& handles() { static auto* r = new Registry<Handle>(); return *r; }
Registry<Tensor>& tensors() { static auto* r = new Registry<Tensor>(); return *r; }
Registry<Filter>& filters() { static auto* r = new Registry<Filter>(); return *r; }
Registry<Conv>& convs() { static auto* r = new Registry<Conv>(); return *r; }

cudnnStatus_t fail(cudnnStatus_t status, const std::string& detail) {
    drv::fail(0, detail);
    return status;
}

int element_size(int type) {
    switch (type) {
        case DATA_FLOAT: return 4;
        case DATA_HALF: return 2;
        case DATA_BFLOAT16: return 2;
        default: return 0;
    }
}

}  // namespace pdemu::dnn

namespace {

template <class T> cudnnStatus_t create(Registry<T>& reg, T** out, const char* api) {
    if (!out) return fail(STATUS_BAD_PARAM, std::string(api) + ": the output pointer is NULL");
    auto* d = new T();
    reg.add(d);
    *out = d;
    return STATUS_SUCCESS;
}

template <class T> cudnnStatus_t destroy(Registry<T>& reg, void* d, const char* api) {
    if (!d) return STATUS_SUCCESS;  // destroying NULL is a no-op
    if (!reg.remove(d)) return fail(STATUS_BAD_PARAM, std::string(api) + ": not a live descriptor");
    delete static_cast<T*>(d);
    return STATUS_SUCCESS;
}

const char* kNames[][2] = {
    {"0", "CUDNN_STATUS_SUCCESS"},
    {"1001", "CUDNN_STATUS_NOT_INITIALIZED"},
    {"2000", "CUDNN_STATUS_BAD_PARAM"},
    {"3000", "CUDNN_STATUS_NOT_SUPPORTED"},
    {"4000", "CUDNN_STATUS_INTERNAL_ERROR"},
    {"5000", "CUDNN_STATUS_EXECUTION_FAILED"},
};

}  // namespace

PDEMU_API size_t cudnnGetVersion(void) { return 91000; }  // the cuDNN 9.10 API

PDEMU_API const char* cudnnGetErrorString(cudnnStatus_t status) {
    std::string code = std::to_string(status);
    for (auto& n : kNames)
        if (code == n[0]) return n[1];
    return "CUDNN_STATUS_UNKNOWN";
}

PDEMU_API cudnnStatus_t cudnnCreate(cudnnHandle_t* handle) {
    return create(handles(), reinterpret_cast<Handle**>(handle), "cudnnCreate");
}

PDEMU_API cudnnStatus_t cudnnDestroy(cudnnHandle_t handle) {
    if (!handle || !handles().remove(handle)) return fail(STATUS_BAD_PARAM, "cudnnDestroy: not a live handle");
    delete reinterpret_cast<Handle*>(handle);
    return STATUS_SUCCESS;
}

PDEMU_API cudnnStatus_t cudnnSetStream(cudnnHandle_t handle, CUstream streamId) {
    if (!handle || !handles().has(handle)) return fail(STATUS_BAD_PARAM, "cudnnSetStream: not a live handle");
    if (!drv::stream_is_valid(streamId)) return fail(STATUS_BAD_PARAM, "cudnnSetStream: not a live stream");
    reinterpret_cast<Handle*>(handle)->stream = streamId;
    return STATUS_SUCCESS;
}

PDEMU_API cudnnStatus_t cudnnCreateTensorDescriptor(cudnnTensorDescriptor_t* d) {
    return create(tensors(), reinterpret_cast<Tensor**>(d), "cudnnCreateTensorDescriptor");
}
PDEMU_API cudnnStatus_t cudnnDestroyTensorDescriptor(cudnnTensorDescriptor_t d) {
    return destroy(tensors(), d, "cudnnDestroyTensorDescriptor");
}
PDEMU_API cudnnStatus_t cudnnCreateFilterDescriptor(cudnnFilterDescriptor_t* d) {
    return create(filters(), reinterpret_cast<Filter**>(d), "cudnnCreateFilterDescriptor");
}
PDEMU_API cudnnStatus_t cudnnDestroyFilterDescriptor(cudnnFilterDescriptor_t d) {
    return destroy(filters(), d, "cudnnDestroyFilterDescriptor");
}
PDEMU_API cudnnStatus_t cudnnCreateConvolutionDescriptor(cudnnConvolutionDescriptor_t* d) {
    return create(convs(), reinterpret_cast<Conv**>(d), "cudnnCreateConvolutionDescriptor");
}
PDEMU_API cudnnStatus_t cudnnDestroyConvolutionDescriptor(cudnnConvolutionDescriptor_t d) {
    return destroy(convs(), d, "cudnnDestroyConvolutionDescriptor");
}

PDEMU_API cudnnStatus_t cudnnSetTensor4dDescriptor(cudnnTensorDescriptor_t tensorDesc, int format, int dataType, int n,
                                                   int c, int h, int w) {
    static const char* api = "cudnnSetTensor4dDescriptor";
    if (!tensorDesc || !tensors().has(tensorDesc)) return fail(STATUS_BAD_PARAM, std::string(api) + ": not a live descriptor");
    if (format < FORMAT_NCHW || format > FORMAT_NCHW_VECT_C || dataType < 0 || dataType > DATA_LAST)
        return fail(STATUS_BAD_PARAM, std::string(api) + ": format or dataType is not a valid enumerant");
    if (n <= 0 || c <= 0 || h <= 0 || w <= 0)
        return fail(STATUS_BAD_PARAM, std::string(api) + ": n, c, h and w must be positive");
    if (int64_t(n) * c * h * w > (int64_t(1) << 31))
        return fail(STATUS_NOT_SUPPORTED, std::string(api) + ": the tensor exceeds 2 Giga-elements");
    *reinterpret_cast<Tensor*>(tensorDesc) = {true, format, dataType, n, c, h, w};
    return STATUS_SUCCESS;
}

PDEMU_API cudnnStatus_t cudnnSetFilter4dDescriptor(cudnnFilterDescriptor_t filterDesc, int dataType, int format, int k,
                                                   int c, int h, int w) {
    static const char* api = "cudnnSetFilter4dDescriptor";
    if (!filterDesc || !filters().has(filterDesc)) return fail(STATUS_BAD_PARAM, std::string(api) + ": not a live descriptor");
    if (format < FORMAT_NCHW || format > FORMAT_NCHW_VECT_C || dataType < 0 || dataType > DATA_LAST)
        return fail(STATUS_BAD_PARAM, std::string(api) + ": format or dataType is not a valid enumerant");
    if (k <= 0 || c <= 0 || h <= 0 || w <= 0)
        return fail(STATUS_BAD_PARAM, std::string(api) + ": k, c, h and w must be positive");
    *reinterpret_cast<Filter*>(filterDesc) = {true, dataType, format, k, c, h, w};
    return STATUS_SUCCESS;
}

PDEMU_API cudnnStatus_t cudnnSetConvolution2dDescriptor(cudnnConvolutionDescriptor_t convDesc, int pad_h, int pad_w,
                                                        int u, int v, int dilation_h, int dilation_w, int mode,
                                                        int computeType) {
    static const char* api = "cudnnSetConvolution2dDescriptor";
    if (!convDesc || !convs().has(convDesc)) return fail(STATUS_BAD_PARAM, std::string(api) + ": not a live descriptor");
    if (pad_h < 0 || pad_w < 0 || u <= 0 || v <= 0 || dilation_h <= 0 || dilation_w <= 0)
        return fail(STATUS_BAD_PARAM, std::string(api) + ": negative padding, or a stride or dilation below 1");
    if (mode != MODE_CONVOLUTION && mode != MODE_CROSS_CORRELATION)
        return fail(STATUS_BAD_PARAM, std::string(api) + ": mode is not a valid enumerant");
    if (computeType < 0 || computeType > DATA_LAST)
        return fail(STATUS_BAD_PARAM, std::string(api) + ": computeType is not a valid enumerant");
    Conv& conv = *reinterpret_cast<Conv*>(convDesc);
    int math = conv.math;
    conv = {true, pad_h, pad_w, u, v, dilation_h, dilation_w, mode, computeType, math};
    return STATUS_SUCCESS;
}

PDEMU_API cudnnStatus_t cudnnSetConvolutionMathType(cudnnConvolutionDescriptor_t convDesc, int mathType) {
    if (!convDesc || !convs().has(convDesc)) return fail(STATUS_BAD_PARAM, "cudnnSetConvolutionMathType: not a live descriptor");
    if (mathType < MATH_DEFAULT || mathType > MATH_FMA)
        return fail(STATUS_BAD_PARAM, "cudnnSetConvolutionMathType: mathType is not a valid enumerant");
    reinterpret_cast<Conv*>(convDesc)->math = mathType;
    return STATUS_SUCCESS;
}
