// cuDNN 9's legacy convolution API as the emulator implements it: our declarations of its types and constants
// (values from the cuDNN documentation and our bindings), the descriptor objects behind its handles, and the checks
// and reference convolution shared by the algorithm queries and cudnnConvolutionForward.
#pragma once

#include "driver/cuda_types.h"
#include "driver/registry.h"

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>

extern "C" {
typedef int cudnnStatus_t;
typedef struct cudnnContext* cudnnHandle_t;
typedef struct cudnnTensorStruct* cudnnTensorDescriptor_t;
typedef struct cudnnFilterStruct* cudnnFilterDescriptor_t;
typedef struct cudnnConvolutionStruct* cudnnConvolutionDescriptor_t;
typedef struct cudnnConvolutionFwdAlgoPerfStruct {
    int algo;
    cudnnStatus_t status;
    float time;
    size_t memory;
    int determinism;
    int mathType;
    int reserved[3];
} cudnnConvolutionFwdAlgoPerf_t;
}

namespace pdemu::dnn {

enum : cudnnStatus_t {
    STATUS_SUCCESS = 0,
    STATUS_NOT_INITIALIZED = 1001,
    STATUS_BAD_PARAM = 2000,
    STATUS_NOT_SUPPORTED = 3000,
    STATUS_INTERNAL_ERROR = 4000,
    STATUS_EXECUTION_FAILED = 5000,
};
enum : int { DATA_FLOAT = 0, DATA_DOUBLE = 1, DATA_HALF = 2, DATA_BFLOAT16 = 9, DATA_LAST = 16 };
enum : int { FORMAT_NCHW = 0, FORMAT_NHWC = 1, FORMAT_NCHW_VECT_C = 2 };
enum : int { MODE_CONVOLUTION = 0, MODE_CROSS_CORRELATION = 1 };
enum : int { MATH_DEFAULT = 0, MATH_TENSOR_OP = 1, MATH_TENSOR_OP_ALLOW_CONVERSION = 2, MATH_FMA = 3 };
enum : int { ALGO_IMPLICIT_GEMM = 0, ALGO_IMPLICIT_PRECOMP_GEMM = 1, ALGO_GEMM = 2, ALGO_DIRECT = 3, ALGO_FFT = 4,
             ALGO_FFT_TILING = 5, ALGO_WINOGRAD = 6, ALGO_WINOGRAD_NONFUSED = 7, ALGO_COUNT = 8 };
constexpr int kDeterministic = 1;

struct Handle {
    CUstream stream = nullptr;
};
struct Tensor {
    bool set = false;
    int format = 0, type = 0, n = 0, c = 0, h = 0, w = 0;
};
struct Filter {
    bool set = false;
    int type = 0, format = 0, k = 0, c = 0, h = 0, w = 0;
};
struct Conv {
    bool set = false;
    int pad_h = 0, pad_w = 0, u = 1, v = 1, dil_h = 1, dil_w = 1, mode = MODE_CROSS_CORRELATION, compute = DATA_FLOAT;
    int math = MATH_DEFAULT;
};

Registry<Handle>& handles();
Registry<Tensor>& tensors();
Registry<Filter>& filters();
Registry<Conv>& convs();

cudnnStatus_t fail(cudnnStatus_t status, const std::string& detail);
int element_size(int type);  // of the data types the reference convolution reads and writes; else 0

/** The output dimensions of x convolved with w (the documented formula); BAD_PARAM on mismatch. */
cudnnStatus_t output_dims(const Conv& conv, const Tensor& x, const Filter& w, int out[4], const char* api);

/** A checked forward problem: descriptors live and set, shapes consistent with y, a supported type config. */
struct Problem {
    Tensor x, y;
    Filter w;
    Conv conv;
};
cudnnStatus_t check_forward(cudnnTensorDescriptor_t x, cudnnFilterDescriptor_t w, cudnnConvolutionDescriptor_t conv,
                            cudnnTensorDescriptor_t y, Problem* out, const char* api);

/** Whether the emulator implements `algo`, and the workspace it needs for the problem. */
bool algo_supported(int algo);
size_t workspace_bytes(const Problem& p, int algo);

/** y = alpha * conv(x, w) + beta * y, run now (on the calling thread); a device fault returns its CUresult. */
CUresult convolve(const Problem& p, int algo, float alpha, float beta, uint64_t x, uint64_t w, uint64_t y,
                  uint64_t workspace, size_t workspace_size);

}  // namespace pdemu::dnn

// The exported cuDNN API (native/cudnn/includes.txt), with the documented signatures.
PDEMU_API size_t cudnnGetVersion(void);
PDEMU_API const char* cudnnGetErrorString(cudnnStatus_t status);
PDEMU_API cudnnStatus_t cudnnCreate(cudnnHandle_t* handle);
PDEMU_API cudnnStatus_t cudnnDestroy(cudnnHandle_t handle);
PDEMU_API cudnnStatus_t cudnnSetStream(cudnnHandle_t handle, CUstream streamId);
PDEMU_API cudnnStatus_t cudnnCreateTensorDescriptor(cudnnTensorDescriptor_t* tensorDesc);
PDEMU_API cudnnStatus_t cudnnSetTensor4dDescriptor(cudnnTensorDescriptor_t tensorDesc, int format, int dataType, int n,
                                                   int c, int h, int w);
PDEMU_API cudnnStatus_t cudnnDestroyTensorDescriptor(cudnnTensorDescriptor_t tensorDesc);
PDEMU_API cudnnStatus_t cudnnCreateFilterDescriptor(cudnnFilterDescriptor_t* filterDesc);
PDEMU_API cudnnStatus_t cudnnSetFilter4dDescriptor(cudnnFilterDescriptor_t filterDesc, int dataType, int format, int k,
                                                   int c, int h, int w);
PDEMU_API cudnnStatus_t cudnnDestroyFilterDescriptor(cudnnFilterDescriptor_t filterDesc);
PDEMU_API cudnnStatus_t cudnnCreateConvolutionDescriptor(cudnnConvolutionDescriptor_t* convDesc);
PDEMU_API cudnnStatus_t cudnnSetConvolution2dDescriptor(cudnnConvolutionDescriptor_t convDesc, int pad_h, int pad_w,
                                                        int u, int v, int dilation_h, int dilation_w, int mode,
                                                        int computeType);
PDEMU_API cudnnStatus_t cudnnSetConvolutionMathType(cudnnConvolutionDescriptor_t convDesc, int mathType);
PDEMU_API cudnnStatus_t cudnnDestroyConvolutionDescriptor(cudnnConvolutionDescriptor_t convDesc);
PDEMU_API cudnnStatus_t cudnnGetConvolution2dForwardOutputDim(cudnnConvolutionDescriptor_t convDesc,
                                                              cudnnTensorDescriptor_t inputTensorDesc,
                                                              cudnnFilterDescriptor_t filterDesc, int* n, int* c, int* h,
                                                              int* w);
PDEMU_API cudnnStatus_t cudnnGetConvolutionForwardAlgorithmMaxCount(cudnnHandle_t handle, int* count);
PDEMU_API cudnnStatus_t cudnnGetConvolutionForwardAlgorithm_v7(cudnnHandle_t handle, cudnnTensorDescriptor_t srcDesc,
                                                               cudnnFilterDescriptor_t filterDesc,
                                                               cudnnConvolutionDescriptor_t convDesc,
                                                               cudnnTensorDescriptor_t destDesc, int requestedAlgoCount,
                                                               int* returnedAlgoCount,
                                                               cudnnConvolutionFwdAlgoPerf_t* perfResults);
PDEMU_API cudnnStatus_t cudnnFindConvolutionForwardAlgorithmEx(
    cudnnHandle_t handle, cudnnTensorDescriptor_t xDesc, const void* x, cudnnFilterDescriptor_t wDesc, const void* w,
    cudnnConvolutionDescriptor_t convDesc, cudnnTensorDescriptor_t yDesc, void* y, int requestedAlgoCount,
    int* returnedAlgoCount, cudnnConvolutionFwdAlgoPerf_t* perfResults, void* workSpace, size_t workSpaceSizeInBytes);
PDEMU_API cudnnStatus_t cudnnGetConvolutionForwardWorkspaceSize(cudnnHandle_t handle, cudnnTensorDescriptor_t xDesc,
                                                                cudnnFilterDescriptor_t wDesc,
                                                                cudnnConvolutionDescriptor_t convDesc,
                                                                cudnnTensorDescriptor_t yDesc, int algo,
                                                                size_t* sizeInBytes);
PDEMU_API cudnnStatus_t cudnnConvolutionForward(cudnnHandle_t handle, const void* alpha, cudnnTensorDescriptor_t xDesc,
                                                const void* x, cudnnFilterDescriptor_t wDesc, const void* w,
                                                cudnnConvolutionDescriptor_t convDesc, int algo, void* workSpace,
                                                size_t workSpaceSizeInBytes, const void* beta,
                                                cudnnTensorDescriptor_t yDesc, void* y);
