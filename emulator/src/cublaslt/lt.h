// cuBLASLt as the emulator implements it: our declarations of its types and constants (values from the cuBLASLt
// documentation and our bindings), the descriptor objects behind its opaque handles, and the checks shared by
// cublasLtMatmulAlgoGetHeuristic and cublasLtMatmul.
#pragma once

#include "driver/cuda_types.h"
#include "driver/registry.h"

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>

extern "C" {
typedef int cublasStatus_t;
typedef struct cublasLtContext* cublasLtHandle_t;
typedef struct cublasLtMatmulDescOpaque_t* cublasLtMatmulDesc_t;
typedef struct cublasLtMatrixLayoutOpaque_t* cublasLtMatrixLayout_t;
typedef struct cublasLtMatmulPreferenceOpaque_t* cublasLtMatmulPreference_t;
typedef struct {
    uint64_t data[8];
} cublasLtMatmulAlgo_t;
typedef struct {
    cublasLtMatmulAlgo_t algo;
    size_t workspaceSize;
    cublasStatus_t state;
    float wavesCount;
    int reserved[4];
} cublasLtMatmulHeuristicResult_t;
}

namespace pdemu::lt {

enum : cublasStatus_t {
    STATUS_SUCCESS = 0,
    STATUS_NOT_INITIALIZED = 1,
    STATUS_ALLOC_FAILED = 3,
    STATUS_INVALID_VALUE = 7,
    STATUS_ARCH_MISMATCH = 8,
    STATUS_MAPPING_ERROR = 11,
    STATUS_EXECUTION_FAILED = 13,
    STATUS_INTERNAL_ERROR = 14,
    STATUS_NOT_SUPPORTED = 15,
    STATUS_LICENSE_ERROR = 16,
};

// cudaDataType values.
enum : int { R_32F = 0, R_16F = 2, R_16BF = 14 };
// cublasComputeType_t values.
enum : int {
    COMPUTE_16F = 64, COMPUTE_16F_PEDANTIC = 65, COMPUTE_32F = 68, COMPUTE_32F_PEDANTIC = 69,
    COMPUTE_32F_FAST_16F = 74, COMPUTE_32F_FAST_16BF = 75, COMPUTE_32F_FAST_TF32 = 77,
};
enum : int { OP_N = 0, OP_T = 1, OP_C = 2 };
enum : int { ORDER_COL = 0, ORDER_ROW = 1 };
enum : int { POINTER_MODE_HOST = 0, POINTER_MODE_DEVICE = 1 };
enum : uint32_t { EPILOGUE_DEFAULT = 1, EPILOGUE_RELU = 2, EPILOGUE_BIAS = 4, EPILOGUE_RELU_BIAS = 6,
                  EPILOGUE_GELU = 32, EPILOGUE_GELU_BIAS = 36 };
// cublasLtMatmulDescAttributes_t
enum : int { DESC_COMPUTE_TYPE = 0, DESC_SCALE_TYPE = 1, DESC_POINTER_MODE = 2, DESC_TRANSA = 3, DESC_TRANSB = 4,
             DESC_TRANSC = 5, DESC_FILL_MODE = 6, DESC_EPILOGUE = 7, DESC_BIAS_POINTER = 8, DESC_BIAS_BATCH_STRIDE = 10,
             DESC_BIAS_DATA_TYPE = 26 };
// cublasLtMatrixLayoutAttribute_t
enum : int { LAYOUT_TYPE = 0, LAYOUT_ORDER = 1, LAYOUT_ROWS = 2, LAYOUT_COLS = 3, LAYOUT_LD = 4, LAYOUT_BATCH_COUNT = 5,
             LAYOUT_STRIDED_BATCH_OFFSET = 6 };
// cublasLtMatmulPreferenceAttributes_t
enum : int { PREF_SEARCH_MODE = 0, PREF_MAX_WORKSPACE_BYTES = 1, PREF_MIN_ALIGNMENT_A_BYTES = 5,
             PREF_MIN_ALIGNMENT_B_BYTES = 6, PREF_MIN_ALIGNMENT_C_BYTES = 7, PREF_MIN_ALIGNMENT_D_BYTES = 8 };

constexpr uint64_t kAlgoMagic = 0x70646d754c74616cull;  // "pdmuLtal": an algo this emulator handed out

struct MatmulDesc {
    int compute = COMPUTE_32F, scale = R_32F, pointer_mode = POINTER_MODE_HOST;
    int transa = OP_N, transb = OP_N, transc = OP_N;
    uint32_t epilogue = EPILOGUE_DEFAULT;
    uint64_t bias = 0;
    int64_t bias_batch_stride = 0;
    int bias_type = -1;  // -1: the type of D
};

struct Layout {
    int type = R_32F, order = ORDER_COL;
    uint64_t rows = 0, cols = 0;
    int64_t ld = 0;
    int batch = 1;
    int64_t stride = 0;  // elements between batches
};

struct Preference {
    uint64_t max_workspace = 0;
    uint32_t align[4] = {256, 256, 256, 256};  // A, B, C, D
    uint32_t search_mode = 0;
};

Registry<struct HandleTag>& handles();
Registry<MatmulDesc>& descs();
Registry<Layout>& layouts();
Registry<Preference>& preferences();

int element_size(int type);  // 0 for a type the emulator does not support

/** The shape of a validated problem: D (m x n) = op(A) (m x k) . op(B) (k x n), `batch` times. */
struct Problem {
    uint64_t m = 0, n = 0, k = 0;
    int batch = 1;
};

/** Checks descriptor consistency (types, shapes, leading dimensions, batches, epilogue) as cuBLASLt does. */
cublasStatus_t check_problem(const MatmulDesc& d, const Layout& a, const Layout& b, const Layout& c, const Layout& dl,
                             Problem* out, const char* api);

/** Records `detail` for pdemuLastErrorDetail and returns `status`. */
cublasStatus_t fail(cublasStatus_t status, const std::string& detail);

}  // namespace pdemu::lt

// The exported cuBLASLt API (native/cublaslt/includes.txt), with the documented signatures.
PDEMU_API cublasStatus_t cublasLtCreate(cublasLtHandle_t* lightHandle);
PDEMU_API cublasStatus_t cublasLtDestroy(cublasLtHandle_t lightHandle);
PDEMU_API size_t cublasLtGetVersion(void);
PDEMU_API const char* cublasLtGetStatusName(cublasStatus_t status);
PDEMU_API const char* cublasLtGetStatusString(cublasStatus_t status);
PDEMU_API cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t* matmulDesc, int computeType, int scaleType);
PDEMU_API cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t matmulDesc);
PDEMU_API cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t matmulDesc, int attr, const void* buf,
                                                        size_t sizeInBytes);
PDEMU_API cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t* matLayout, int type, uint64_t rows,
                                                    uint64_t cols, int64_t ld);
PDEMU_API cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t matLayout);
PDEMU_API cublasStatus_t cublasLtMatrixLayoutSetAttribute(cublasLtMatrixLayout_t matLayout, int attr, const void* buf,
                                                          size_t sizeInBytes);
PDEMU_API cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t* pref);
PDEMU_API cublasStatus_t cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t pref);
PDEMU_API cublasStatus_t cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t pref, int attr,
                                                              const void* buf, size_t sizeInBytes);
PDEMU_API cublasStatus_t cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t lightHandle, cublasLtMatmulDesc_t operationDesc,
                                                        cublasLtMatrixLayout_t Adesc, cublasLtMatrixLayout_t Bdesc,
                                                        cublasLtMatrixLayout_t Cdesc, cublasLtMatrixLayout_t Ddesc,
                                                        cublasLtMatmulPreference_t preference, int requestedAlgoCount,
                                                        cublasLtMatmulHeuristicResult_t heuristicResultsArray[],
                                                        int* returnAlgoCount);
PDEMU_API cublasStatus_t cublasLtMatmul(cublasLtHandle_t lightHandle, cublasLtMatmulDesc_t computeDesc, const void* alpha,
                                        const void* A, cublasLtMatrixLayout_t Adesc, const void* B,
                                        cublasLtMatrixLayout_t Bdesc, const void* beta, const void* C,
                                        cublasLtMatrixLayout_t Cdesc, void* D, cublasLtMatrixLayout_t Ddesc,
                                        const cublasLtMatmulAlgo_t* algo, void* workspace, size_t workspaceSizeInBytes,
                                        CUstream stream);
