// cuModuleLoadData (PTX from the image, parsed by the interpreter), cuModuleUnload, cuModuleGetFunction and
// cuFuncSetAttribute.
#include "driver/module.h"

#include "driver/memory.h"
#include "driver/state.h"

#include <algorithm>

using namespace pdemu;
using namespace pdemu::drv;

namespace {
constexpr int kOptInSharedBytes = 232448;  // CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN
constexpr int kDefaultSharedBytes = 48 * 1024;
}  // namespace

PDEMU_API CUresult cuModuleLoadData(CUmodule* module, const void* image) {
    static const char* api = "cuModuleLoadData";
    std::lock_guard lock(api_mutex());
    if (!module || !image) return fail(cu::ERROR_INVALID_VALUE, std::string(api) + ": module or image is NULL");
    Context* c = nullptr;
    if (CUresult r = require_context(api, &c)) return r;
    std::string ptx;
    if (CUresult r = extract_ptx(image, &ptx)) return r;
    std::string error;
    std::unique_ptr<pdemu::Module> m = pdemu::load_ptx(ptx, memory(), &error);
    if (!m) return fail(cu::ERROR_INVALID_PTX, std::string(api) + ": PTX rejected: " + error);
    auto* h = new CUmod_st();
    h->module = std::move(m);
    c->modules.insert(h);
    *module = h;
    return cu::SUCCESS;
}

PDEMU_API CUresult cuModuleUnload(CUmodule hmod) {
    std::lock_guard lock(api_mutex());
    Context* c = nullptr;
    if (CUresult r = require_context("cuModuleUnload", &c)) return r;
    if (!c->modules.count(hmod)) return fail(cu::ERROR_INVALID_HANDLE, "cuModuleUnload: not a loaded module");
    for (auto& [name, f] : hmod->functions) c->functions.erase(f.get());
    c->modules.erase(hmod);
    delete hmod;
    return cu::SUCCESS;
}

PDEMU_API CUresult cuModuleGetFunction(CUfunction* hfunc, CUmodule hmod, const char* name) {
    static const char* api = "cuModuleGetFunction";
    std::lock_guard lock(api_mutex());
    if (!hfunc || !name) return fail(cu::ERROR_INVALID_VALUE, std::string(api) + ": hfunc or name is NULL");
    Context* c = nullptr;
    if (CUresult r = require_context(api, &c)) return r;
    if (!c->modules.count(hmod)) return fail(cu::ERROR_INVALID_HANDLE, std::string(api) + ": not a loaded module");
    auto it = hmod->functions.find(std::string_view(name));
    if (it == hmod->functions.end()) {
        const pdemu::Kernel* k = hmod->module->kernel(name);
        if (!k) return fail(cu::ERROR_NOT_FOUND, std::string(api) + ": the module has no kernel named '" + name + "'");
        auto f = std::make_unique<CUfunc_st>();
        f->kernel = k;
        f->module = hmod;
        int static_bytes = static_cast<int>(k->static_shared_bytes());
        f->max_dynamic_shared = std::max(0, kDefaultSharedBytes - static_bytes);
        c->functions.insert(f.get());
        it = hmod->functions.emplace(name, std::move(f)).first;
    }
    *hfunc = it->second.get();
    return cu::SUCCESS;
}

PDEMU_API CUresult cuFuncSetAttribute(CUfunction hfunc, CUfunction_attribute attrib, int value) {
    static const char* api = "cuFuncSetAttribute";
    std::lock_guard lock(api_mutex());
    Context* c = nullptr;
    if (CUresult r = require_context(api, &c)) return r;
    if (!c->functions.count(hfunc)) return fail(cu::ERROR_INVALID_HANDLE, std::string(api) + ": not a live function");
    switch (attrib) {
        case cu::FUNC_MAX_DYNAMIC_SHARED_SIZE_BYTES: {
            int limit = kOptInSharedBytes - static_cast<int>(hfunc->kernel->static_shared_bytes());
            if (value < 0 || value > limit)
                return fail(cu::ERROR_INVALID_VALUE, std::string(api) + ": MAX_DYNAMIC_SHARED_SIZE_BYTES " +
                                                         std::to_string(value) + " is outside [0, " + std::to_string(limit) +
                                                         "] (227 KiB opt-in minus the kernel's static shared memory)");
            hfunc->max_dynamic_shared = value;
            return cu::SUCCESS;
        }
        case cu::FUNC_PREFERRED_SHARED_MEMORY_CARVEOUT:
            if (value < -1 || value > 100)
                return fail(cu::ERROR_INVALID_VALUE, std::string(api) + ": carveout must be -1 or a percentage 0..100");
            hfunc->carveout = value;
            return cu::SUCCESS;
        default:
            return fail(cu::ERROR_INVALID_VALUE, std::string(api) + ": attribute " + std::to_string(attrib) +
                                                     " is read-only or not settable in the emulator");
    }
}
