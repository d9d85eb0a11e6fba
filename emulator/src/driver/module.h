// Loaded modules and their functions (the handle types behind CUmodule and CUfunction).
#pragma once

#include "driver/cuda_types.h"

#include <pdemu/ptx.h>

#include <map>
#include <memory>
#include <string>

struct CUmod_st;

struct CUfunc_st {
    const pdemu::Kernel* kernel = nullptr;
    CUmod_st* module = nullptr;
    int max_dynamic_shared = 48 * 1024;  // CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES (48 KiB minus static by default)
    int carveout = -1;                   // CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT
};

struct CUmod_st {
    std::shared_ptr<pdemu::Module> module;  // shared with captured launches that use its kernels
    std::map<std::string, std::unique_ptr<CUfunc_st>, std::less<>> functions;
};

namespace pdemu::drv {

/** The PTX text inside a module image (fatbin, PTX text); on failure a CUresult with its detail set by fail(). */
CUresult extract_ptx(const void* image, std::string* ptx);

}  // namespace pdemu::drv
