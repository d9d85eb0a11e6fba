// cuBLASLt handles and descriptors: create, destroy, set attributes (each attribute's size checked as the library
// checks it), the library version and status names.
#include "cublaslt/lt.h"

#include "driver/state.h"

#include <cstring>
#include <new>

using namespace pdemu;
using namespace pdemu::lt;

namespace pdemu::lt {

Registry<HandleTag>& handles() { static auto* r = new Registry<HandleTag>(); return *r; }
Registry<MatmulDesc>& descs() { static auto* r = new Registry<MatmulDesc>(); return *r; }
Registry<Layout>& layouts() { static auto* r = new Registry<Layout>(); return *r; }
Registry<Preference>& preferences() { static auto* r = new Registry<Preference>(); return *r; }

cublasStatus_t fail(cublasStatus_t status, const std::string& detail) {
    drv::fail(0, detail);
    return status;
}

int element_size(int type) {
    switch (type) {
        case R_32F: return 4;
        case R_16F: return 2;
        case R_16BF: return 2;
        default: return 0;
    }
}

}  // namespace pdemu::lt

namespace {

template <class T> cublasStatus_t read_attr(const void* buf, size_t size, T* out, const char* api, int attr) {
    if (!buf || size != sizeof(T))
        return fail(STATUS_INVALID_VALUE, std::string(api) + ": attribute " + std::to_string(attr) + " takes " +
                                              std::to_string(sizeof(T)) + " bytes, got " + std::to_string(size) +
                                              (buf ? "" : " (buf is NULL)"));
    std::memcpy(out, buf, sizeof(T));
    return STATUS_SUCCESS;
}

struct StatusText {
    cublasStatus_t code;
    const char* name;
    const char* text;
};
constexpr StatusText kStatus[] = {
    {0, "CUBLAS_STATUS_SUCCESS", "success"},
    {1, "CUBLAS_STATUS_NOT_INITIALIZED", "the library was not initialized"},
    {3, "CUBLAS_STATUS_ALLOC_FAILED", "the resource allocation failed"},
    {7, "CUBLAS_STATUS_INVALID_VALUE", "an invalid numeric value was used as an argument"},
    {8, "CUBLAS_STATUS_ARCH_MISMATCH", "an absent device architectural feature is required"},
    {11, "CUBLAS_STATUS_MAPPING_ERROR", "an access to GPU memory space failed"},
    {13, "CUBLAS_STATUS_EXECUTION_FAILED", "the GPU program failed to execute"},
    {14, "CUBLAS_STATUS_INTERNAL_ERROR", "an internal operation failed"},
    {15, "CUBLAS_STATUS_NOT_SUPPORTED", "the functionality requested is not supported"},
    {16, "CUBLAS_STATUS_LICENSE_ERROR", "an error was detected when checking the current licensing"},
};

}  // namespace

PDEMU_API cublasStatus_t cublasLtCreate(cublasLtHandle_t* lightHandle) {
    if (!lightHandle) return fail(STATUS_INVALID_VALUE, "cublasLtCreate: lightHandle is NULL");
    auto* h = new (std::nothrow) char[16];
    if (!h) return fail(STATUS_ALLOC_FAILED, "cublasLtCreate: out of host memory");
    handles().add(h);
    *lightHandle = reinterpret_cast<cublasLtHandle_t>(h);
    return STATUS_SUCCESS;
}

PDEMU_API cublasStatus_t cublasLtDestroy(cublasLtHandle_t lightHandle) {
    if (!lightHandle || !handles().remove(lightHandle))
        return fail(STATUS_NOT_INITIALIZED, "cublasLtDestroy: not a live cuBLASLt handle");
    delete[] reinterpret_cast<char*>(lightHandle);
    return STATUS_SUCCESS;
}

PDEMU_API size_t cublasLtGetVersion(void) { return 130000; }  // the cuBLASLt 13.0 API

PDEMU_API const char* cublasLtGetStatusName(cublasStatus_t status) {
    for (const StatusText& s : kStatus)
        if (s.code == status) return s.name;
    return "CUBLAS_STATUS_UNKNOWN";
}

PDEMU_API const char* cublasLtGetStatusString(cublasStatus_t status) {
    for (const StatusText& s : kStatus)
        if (s.code == status) return s.text;
    return "unknown status";
}

PDEMU_API cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t* matmulDesc, int computeType, int scaleType) {
    if (!matmulDesc) return fail(STATUS_INVALID_VALUE, "cublasLtMatmulDescCreate: matmulDesc is NULL");
    auto* d = new MatmulDesc();
    d->compute = computeType;
    d->scale = scaleType;
    descs().add(d);
    *matmulDesc = reinterpret_cast<cublasLtMatmulDesc_t>(d);
    return STATUS_SUCCESS;
}

PDEMU_API cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t matmulDesc) {
    if (!matmulDesc || !descs().remove(matmulDesc))
        return fail(STATUS_INVALID_VALUE, "cublasLtMatmulDescDestroy: not a live matmul descriptor");
    delete reinterpret_cast<MatmulDesc*>(matmulDesc);
    return STATUS_SUCCESS;
}

PDEMU_API cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t matmulDesc, int attr, const void* buf,
                                                        size_t sizeInBytes) {
    static const char* api = "cublasLtMatmulDescSetAttribute";
    if (!matmulDesc || !descs().has(matmulDesc)) return fail(STATUS_INVALID_VALUE, std::string(api) + ": not a live descriptor");
    MatmulDesc& d = *reinterpret_cast<MatmulDesc*>(matmulDesc);
    switch (attr) {
        case DESC_COMPUTE_TYPE: return read_attr(buf, sizeInBytes, &d.compute, api, attr);
        case DESC_SCALE_TYPE: return read_attr(buf, sizeInBytes, &d.scale, api, attr);
        case DESC_POINTER_MODE: return read_attr(buf, sizeInBytes, &d.pointer_mode, api, attr);
        case DESC_TRANSA: return read_attr(buf, sizeInBytes, &d.transa, api, attr);
        case DESC_TRANSB: return read_attr(buf, sizeInBytes, &d.transb, api, attr);
        case DESC_TRANSC: return read_attr(buf, sizeInBytes, &d.transc, api, attr);
        case DESC_EPILOGUE: return read_attr(buf, sizeInBytes, &d.epilogue, api, attr);
        case DESC_BIAS_POINTER: return read_attr(buf, sizeInBytes, &d.bias, api, attr);
        case DESC_BIAS_BATCH_STRIDE: return read_attr(buf, sizeInBytes, &d.bias_batch_stride, api, attr);
        case DESC_BIAS_DATA_TYPE: return read_attr(buf, sizeInBytes, &d.bias_type, api, attr);
        default:
            return fail(STATUS_INVALID_VALUE, std::string(api) + ": attribute " + std::to_string(attr) +
                                                  " is unknown or not emulated (fill mode, aux/scale pointers, ...)");
    }
}

PDEMU_API cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t* matLayout, int type, uint64_t rows,
                                                    uint64_t cols, int64_t ld) {
    if (!matLayout) return fail(STATUS_INVALID_VALUE, "cublasLtMatrixLayoutCreate: matLayout is NULL");
    auto* l = new Layout();
    l->type = type;
    l->rows = rows;
    l->cols = cols;
    l->ld = ld;
    layouts().add(l);
    *matLayout = reinterpret_cast<cublasLtMatrixLayout_t>(l);
    return STATUS_SUCCESS;
}

PDEMU_API cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t matLayout) {
    if (!matLayout || !layouts().remove(matLayout))
        return fail(STATUS_INVALID_VALUE, "cublasLtMatrixLayoutDestroy: not a live matrix layout");
    delete reinterpret_cast<Layout*>(matLayout);
    return STATUS_SUCCESS;
}

PDEMU_API cublasStatus_t cublasLtMatrixLayoutSetAttribute(cublasLtMatrixLayout_t matLayout, int attr, const void* buf,
                                                          size_t sizeInBytes) {
    static const char* api = "cublasLtMatrixLayoutSetAttribute";
    if (!matLayout || !layouts().has(matLayout)) return fail(STATUS_INVALID_VALUE, std::string(api) + ": not a live layout");
    Layout& l = *reinterpret_cast<Layout*>(matLayout);
    switch (attr) {
        case LAYOUT_TYPE: return read_attr(buf, sizeInBytes, reinterpret_cast<uint32_t*>(&l.type), api, attr);
        case LAYOUT_ORDER: return read_attr(buf, sizeInBytes, &l.order, api, attr);
        case LAYOUT_ROWS: return read_attr(buf, sizeInBytes, &l.rows, api, attr);
        case LAYOUT_COLS: return read_attr(buf, sizeInBytes, &l.cols, api, attr);
        case LAYOUT_LD: return read_attr(buf, sizeInBytes, &l.ld, api, attr);
        case LAYOUT_BATCH_COUNT: return read_attr(buf, sizeInBytes, &l.batch, api, attr);
        case LAYOUT_STRIDED_BATCH_OFFSET: return read_attr(buf, sizeInBytes, &l.stride, api, attr);
        default:
            return fail(STATUS_INVALID_VALUE, std::string(api) + ": attribute " + std::to_string(attr) +
                                                  " is unknown or not emulated (plane offset)");
    }
}

PDEMU_API cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t* pref) {
    if (!pref) return fail(STATUS_INVALID_VALUE, "cublasLtMatmulPreferenceCreate: pref is NULL");
    auto* p = new Preference();
    preferences().add(p);
    *pref = reinterpret_cast<cublasLtMatmulPreference_t>(p);
    return STATUS_SUCCESS;
}

PDEMU_API cublasStatus_t cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t pref) {
    if (!pref || !preferences().remove(pref))
        return fail(STATUS_INVALID_VALUE, "cublasLtMatmulPreferenceDestroy: not a live preference");
    delete reinterpret_cast<Preference*>(pref);
    return STATUS_SUCCESS;
}

PDEMU_API cublasStatus_t cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t pref, int attr,
                                                              const void* buf, size_t sizeInBytes) {
    static const char* api = "cublasLtMatmulPreferenceSetAttribute";
    if (!pref || !preferences().has(pref)) return fail(STATUS_INVALID_VALUE, std::string(api) + ": not a live preference");
    Preference& p = *reinterpret_cast<Preference*>(pref);
    switch (attr) {
        case PREF_SEARCH_MODE: return read_attr(buf, sizeInBytes, &p.search_mode, api, attr);
        case PREF_MAX_WORKSPACE_BYTES: return read_attr(buf, sizeInBytes, &p.max_workspace, api, attr);
        case PREF_MIN_ALIGNMENT_A_BYTES:
        case PREF_MIN_ALIGNMENT_B_BYTES:
        case PREF_MIN_ALIGNMENT_C_BYTES:
        case PREF_MIN_ALIGNMENT_D_BYTES:
            return read_attr(buf, sizeInBytes, &p.align[attr - PREF_MIN_ALIGNMENT_A_BYTES], api, attr);
        default:
            return fail(STATUS_INVALID_VALUE, std::string(api) + ": attribute " + std::to_string(attr) +
                                                  " is unknown or not emulated");
    }
}
