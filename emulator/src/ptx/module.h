// Module and Kernel as the driver sees them (pdemu/ptx.h), over the decoded KernelCode.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ptx/ir.h"

namespace pdemu::ptx {

class KernelImpl final : public Kernel {
public:
    explicit KernelImpl(std::unique_ptr<KernelCode> code) : code_(std::move(code)) {}
    const std::string& name() const override { return code_->name; }
    const std::vector<Param>& params() const override { return code_->params; }
    uint32_t static_shared_bytes() const override { return code_->static_shared; }
    uint32_t local_bytes_per_thread() const override { return code_->local_bytes; }
    uint32_t max_threads_per_block() const override;
    LaunchResult launch(const LaunchConfig& config, void* const* params, DeviceMemory& memory) const override {
        return launch_kernel(*code_, config, params, memory);
    }
    const KernelCode& code() const { return *code_; }

private:
    std::unique_ptr<KernelCode> code_;
};

class ModuleImpl final : public Module {
public:
    explicit ModuleImpl(DeviceMemory& memory) : memory_(memory) {}
    ~ModuleImpl() override {
        for (auto& v : vars_) memory_.free_module_variable(v.address);
    }
    const Kernel* kernel(std::string_view name) const override {
        for (auto& k : kernels_) if (k->name() == name) return k.get();
        return nullptr;
    }
    std::vector<std::string> kernel_names() const override {
        std::vector<std::string> names;
        for (auto& k : kernels_) names.push_back(k->name());
        return names;
    }
    /** Device address of a module-scope .global/.const variable, 0 if none (for cuModuleGetGlobal). */
    uint64_t global(std::string_view name, size_t* size) const override {
        for (auto& v : vars_) if (v.name == name) { if (size) *size = v.size; return v.address; }
        return 0;
    }
    void add_kernel(std::unique_ptr<KernelCode> k) { kernels_.push_back(std::make_unique<KernelImpl>(std::move(k))); }
    void add_var(const std::string& name, uint64_t address, size_t size) { vars_.push_back({name, address, size}); }
    void keep(std::string* s) { owned_.emplace_back(s); }

private:
    DeviceMemory& memory_;
    std::vector<std::unique_ptr<KernelImpl>> kernels_;
    std::vector<ModuleVar> vars_;
    std::vector<std::unique_ptr<std::string>> owned_;
};

}  // namespace pdemu::ptx
