// The PTX parser's internals, shared by parser.cpp (scanning, kernels, instructions) and parser_decls.cpp
// (declarations, symbols, operands as the Decoder interface hands them to the instruction families).
#pragma once

#include <algorithm>
#include <charconv>
#include <map>
#include <memory>

#include "ptx/ir.h"
#include "ptx/module.h"

namespace pdemu::ptx::parse {

std::string_view trim(std::string_view s);
std::vector<std::string_view> split_top(std::string_view s, char sep);
bool parse_int(std::string_view s, int64_t& v);
bool parse_fimm(std::string_view s, int64_t& bits, bool& f64);
inline bool ident_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$' || c == '.' || c == '%'; }

struct SpecialName { std::string_view name; uint32_t index; };
inline const SpecialName kSpecials[] = {
    {"%tid.x", sp_tid_x}, {"%tid.y", sp_tid_y}, {"%tid.z", sp_tid_z}, {"%ntid.x", sp_ntid_x},
    {"%ntid.y", sp_ntid_y}, {"%ntid.z", sp_ntid_z}, {"%ctaid.x", sp_ctaid_x}, {"%ctaid.y", sp_ctaid_y},
    {"%ctaid.z", sp_ctaid_z}, {"%nctaid.x", sp_nctaid_x}, {"%nctaid.y", sp_nctaid_y}, {"%nctaid.z", sp_nctaid_z},
    {"%laneid", sp_laneid}, {"%warpid", sp_warpid}, {"%nwarpid", sp_nwarpid}, {"%lanemask_eq", sp_lanemask_eq},
    {"%lanemask_lt", sp_lanemask_lt}, {"%lanemask_le", sp_lanemask_le}, {"%lanemask_gt", sp_lanemask_gt},
    {"%lanemask_ge", sp_lanemask_ge}, {"%smid", sp_smid}, {"%nsmid", sp_nsmid}, {"%gridid", sp_gridid},
    {"%dynamic_smem_size", sp_dynamic_smem_size}, {"%total_smem_size", sp_total_smem_size}};

struct Var {              // a variable visible to a kernel
    Space space = Space::global;
    bool external = false;   // .extern .shared (dynamic shared memory)
    uint32_t size = 0, align = 1;
    uint64_t address = 0;    // global/const: device address
    std::vector<uint8_t> init;
};

struct RegName { uint32_t index; T type; };
struct RegRange { uint32_t base, count; T type; };
struct Scope {
    std::unordered_map<std::string, RegName> names;
    std::unordered_map<std::string, RegRange> ranges;
};

class Parser final : public Decoder {
public:
    Parser(std::string_view text, DeviceMemory& memory, ModuleImpl& module) : src_(text), memory_(memory), module_(module) {
        register_int_ops(ops_); register_compare_ops(ops_); register_float_ops(ops_); register_cvt_ops(ops_); register_mem_ops(ops_);
        register_control_ops(ops_); register_warp_ops(ops_); register_mma_ops(ops_); register_atom_ops(ops_);
    }

    bool run(std::string* error);

    // Decoder
    uint32_t src(const POperand& op, T t) override;
    uint32_t dst(const POperand& op) override;
    bool address(const POperand& op, Space& space, uint32_t& base, int64_t& offset) override;
    uint32_t label(const POperand& op, Inst& in) override;
    uint32_t constant(uint64_t bits) override;
    void fail(const std::string& why) override { if (err_.empty()) err_ = why; }
    bool failed() const override { return !err_.empty(); }
    KernelCode& kernel() override { return *k_; }

private:
    // scanning
    std::string_view src_;
    size_t pos_ = 0;
    DeviceMemory& memory_;
    ModuleImpl& module_;
    OpTable ops_;
    std::string err_;
    uint32_t err_line_ = 0;
    std::string_view err_text_;

    std::map<std::string, Var, std::less<>> module_vars_;
    // per kernel
    KernelCode* k_ = nullptr;
    std::vector<Scope> scopes_;
    std::unordered_map<std::string, uint32_t> const_regs_;
    std::map<std::string, Var, std::less<>> kernel_vars_;
    std::map<std::string, uint32_t, std::less<>> shared_offsets_;  // module .shared assigned in this kernel
    std::map<std::string, uint32_t, std::less<>> labels_;
    std::vector<std::pair<uint32_t, std::string_view>> fixups_;    // (instruction, label)
    std::vector<uint32_t> fixup_lines_;
    uint32_t line_ = 0;
    std::string_view stmt_text_;

    mutable size_t line_pos_ = 0;
    mutable uint32_t line_count_ = 1;
    uint32_t line_at(size_t p) const {   // positions are asked for in increasing order; count incrementally
        if (p < line_pos_) { line_pos_ = 0; line_count_ = 1; }
        line_count_ += static_cast<uint32_t>(std::count(src_.begin() + line_pos_, src_.begin() + p, '\n'));
        line_pos_ = p;
        return line_count_;
    }
    bool error(uint32_t line, std::string_view text, const std::string& what) {
        if (err_.empty()) err_ = what;
        err_line_ = line;
        err_text_ = text;
        return false;
    }
    void skip_space();
    std::string_view read_until(char c);   // up to (excluding) c, consuming c
    std::string_view read_line();
    std::string_view peek_word();

    bool parse_variable(std::string_view decl, uint32_t line, bool module_scope);
    bool parse_entry(uint32_t line);
    bool parse_params(std::string_view list, uint32_t line);
    bool parse_body();
    bool parse_reg_decl(std::string_view decl);
    bool parse_instruction(std::string_view text, uint32_t line);
    bool parse_operand(std::string_view s, POperand& op);
    const RegName* find_reg(std::string_view name) const;
    const Var* find_var(std::string_view name) const;
    uint32_t symbol_reg(std::string_view name, Space* space);
};

}  // namespace pdemu::ptx::parse
