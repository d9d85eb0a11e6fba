// PTX declarations and operands: types, number syntax, variables (.global/.const/.shared/.local with
// initialisers), the .param list, .reg declarations, register and symbol lookup, and the Decoder interface
// (operands -> register indices, constant registers, addresses, labels).
#include "ptx/parser.h"

namespace pdemu::ptx {

T parse_type(std::string_view s) {
    static const std::pair<std::string_view, T> table[] = {
        {"pred", T::pred}, {"b8", T::b8}, {"b16", T::b16}, {"b32", T::b32}, {"b64", T::b64}, {"u8", T::u8},
        {"u16", T::u16}, {"u32", T::u32}, {"u64", T::u64}, {"s8", T::s8}, {"s16", T::s16}, {"s32", T::s32},
        {"s64", T::s64}, {"f16", T::f16}, {"f16x2", T::f16x2}, {"bf16", T::bf16}, {"bf16x2", T::bf16x2},
        {"f32", T::f32}, {"f64", T::f64}};
    for (auto& [n, t] : table) if (n == s) return t;
    return T::none;
}

uint32_t type_bits(T t) {
    switch (t) {
        case T::pred: return 1;
        case T::b8: case T::u8: case T::s8: return 8;
        case T::b16: case T::u16: case T::s16: case T::f16: case T::bf16: return 16;
        case T::b32: case T::u32: case T::s32: case T::f32: case T::f16x2: case T::bf16x2: return 32;
        case T::b64: case T::u64: case T::s64: case T::f64: return 64;
        default: return 0;
    }
}

T Stmt::type(int nth) const {
    for (size_t i = mods.size(); i-- > 0;) {
        T t = parse_type(mods[i]);
        if (t != T::none && nth-- == 0) return t;
    }
    return T::none;
}

namespace parse {

std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
}

std::vector<std::string_view> split_top(std::string_view s, char sep) {
    std::vector<std::string_view> out;
    int depth = 0;
    size_t start = 0;
    for (size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (c == '{' || c == '[' || c == '(') ++depth;
        else if (c == '}' || c == ']' || c == ')') --depth;
        else if (c == sep && depth == 0) { out.push_back(trim(s.substr(start, i - start))); start = i + 1; }
    }
    auto last = trim(s.substr(start));
    if (!last.empty() || !out.empty()) out.push_back(last);
    return out;
}

bool parse_int(std::string_view s, int64_t& v) {
    s = trim(s);
    bool neg = false;
    if (!s.empty() && (s[0] == '-' || s[0] == '+')) { neg = s[0] == '-'; s.remove_prefix(1); }
    if (!s.empty() && (s.back() == 'U' || s.back() == 'u')) s.remove_suffix(1);
    if (s.empty()) return false;
    int base = 10;
    if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) { base = 16; s.remove_prefix(2); }
    else if (s.size() > 2 && s[0] == '0' && (s[1] == 'b' || s[1] == 'B')) { base = 2; s.remove_prefix(2); }
    else if (s.size() > 1 && s[0] == '0') { base = 8; s.remove_prefix(1); }
    uint64_t u = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), u, base);
    if (ec != std::errc() || p != s.data() + s.size()) return false;
    v = neg ? -static_cast<int64_t>(u) : static_cast<int64_t>(u);
    return true;
}

bool parse_fimm(std::string_view s, int64_t& bits, bool& f64) {
    s = trim(s);
    if (s.size() == 10 && s[0] == '0' && (s[1] == 'f' || s[1] == 'F')) f64 = false;
    else if (s.size() == 18 && s[0] == '0' && (s[1] == 'd' || s[1] == 'D')) f64 = true;
    else return false;
    uint64_t u = 0;
    auto [p, ec] = std::from_chars(s.data() + 2, s.data() + s.size(), u, 16);
    if (ec != std::errc() || p != s.data() + s.size()) return false;
    bits = static_cast<int64_t>(u);
    return true;
}
bool Parser::parse_variable(std::string_view decl, uint32_t line, bool module_scope) {
    Var v;
    std::string_view rest = decl;
    T type = T::none;
    uint32_t vec = 1;
    bool have_space = false;
    while (!rest.empty() && rest[0] == '.') {
        size_t e = 1;
        while (e < rest.size() && ident_char(rest[e]) && rest[e] != '.') ++e;
        std::string_view word = rest.substr(1, e - 1);
        rest = trim(rest.substr(e));
        if (word == "visible" || word == "weak" || word == "common") continue;
        if (word == "extern") { v.external = true; continue; }
        if (word == "global") { v.space = Space::global; have_space = true; continue; }
        if (word == "const") { v.space = Space::konst; have_space = true; continue; }
        if (word == "shared") { v.space = Space::shared; have_space = true; continue; }
        if (word == "local") { v.space = Space::local; have_space = true; continue; }
        if (word == "align") {
            size_t e2 = 0;
            while (e2 < rest.size() && std::isdigit(static_cast<unsigned char>(rest[e2]))) ++e2;
            int64_t a = 0;
            if (!parse_int(rest.substr(0, e2), a) || a <= 0) return error(line, decl, "bad .align");
            v.align = static_cast<uint32_t>(a);
            rest = trim(rest.substr(e2));
            continue;
        }
        if (word == "v2" || word == "v4" || word == "v8") { vec = word[1] - '0'; continue; }
        type = parse_type(word);
        if (type == T::none) return error(line, decl, "unsupported declaration ." + std::string(word));
    }
    if (!have_space || type == T::none) return error(line, decl, "not a variable declaration PTX knows");
    uint32_t elem = std::max<uint32_t>(1, type_bits(type) / 8) * vec;
    if (v.align < elem && !v.external) v.align = std::max(v.align, std::min<uint32_t>(elem, 16));
    size_t eq = rest.find('=');
    std::string_view lhs = trim(rest.substr(0, eq));
    std::string_view init = eq == std::string_view::npos ? std::string_view{} : trim(rest.substr(eq + 1));
    size_t br = lhs.find('[');
    std::string name(trim(lhs.substr(0, br)));
    uint64_t count = 1;
    bool unsized = false;
    while (br != std::string_view::npos) {
        size_t close = lhs.find(']', br);
        if (close == std::string_view::npos) return error(line, decl, "missing ]");
        auto dim = trim(lhs.substr(br + 1, close - br - 1));
        int64_t n = 0;
        if (dim.empty()) unsized = true;
        else if (!parse_int(dim, n) || n < 0) return error(line, decl, "bad array size");
        else count *= static_cast<uint64_t>(n);
        br = lhs.find('[', close);
    }
    if (unsized && !v.external && init.empty()) return error(line, decl, "array without size");
    v.size = static_cast<uint32_t>(unsized ? 0 : count * elem);
    if (!init.empty()) {
        std::string flat;
        for (char c : init) if (c != '{' && c != '}') flat.push_back(c);
        for (auto item : split_top(flat, ',')) {
            int64_t val = 0;
            bool f64 = false;
            if (parse_fimm(item, val, f64)) {
                if (type == T::f32 && f64) { float f = static_cast<float>(std::bit_cast<double>(val)); val = std::bit_cast<uint32_t>(f); }
                if (type == T::f64 && !f64) { double d = std::bit_cast<float>(static_cast<uint32_t>(val)); val = std::bit_cast<int64_t>(d); }
            } else if (!parse_int(item, val)) {
                return error(line, decl, "unsupported initializer '" + std::string(item) + "'");
            }
            for (uint32_t b = 0; b < elem / vec; ++b) v.init.push_back(static_cast<uint8_t>(static_cast<uint64_t>(val) >> (8 * b)));
        }
        if (unsized) v.size = static_cast<uint32_t>(v.init.size());
        if (v.init.size() > v.size) return error(line, decl, "initializer larger than the variable");
    }
    if (module_scope && (v.space == Space::global || v.space == Space::konst)) {
        if (v.external) return error(line, decl, "extern .global/.const variables are not supported");
        v.address = memory_.allocate_module_variable(std::max<uint32_t>(v.size, 1), v.align);
        if (v.address == 0) return error(line, decl, "out of device memory for a module variable");
        module_.add_var(name, v.address, v.size);
        if (!v.init.empty()) {
            void* p = memory_.resolve(v.address, v.init.size(), true, nullptr);
            if (!p) return error(line, decl, "module variable memory did not resolve");
            std::memcpy(p, v.init.data(), v.init.size());
        }
    }
    if (!module_scope && v.space == Space::local && !v.external) {
        auto& k = *k_;
        uint32_t off = (k.local_bytes + v.align - 1) / v.align * v.align;
        v.address = off;
        k.local_bytes = off + v.size;
    }
    if (!module_scope && v.space == Space::shared && !v.external) {
        auto& k = *k_;
        uint32_t off = (k.static_shared + v.align - 1) / v.align * v.align;
        v.address = off;
        k.static_shared = off + v.size;
    }
    if (v.external && v.space != Space::shared) return error(line, decl, "only .extern .shared is supported");
    if (!module_scope && (v.space == Space::global || v.space == Space::konst))
        return error(line, decl, "function-scope .global/.const variables are not supported");
    (module_scope ? module_vars_ : kernel_vars_)[name] = std::move(v);
    return true;
}

bool Parser::parse_params(std::string_view list, uint32_t line) {
    auto& k = *k_;
    for (auto p : split_top(list, ',')) {
        if (p.empty()) continue;
        Param prm;
        T type = T::none;
        uint32_t align = 0;
        std::string_view rest = p;
        while (!rest.empty() && rest[0] == '.') {
            size_t e = 1;
            while (e < rest.size() && ident_char(rest[e]) && rest[e] != '.') ++e;
            std::string_view word = rest.substr(1, e - 1);
            rest = trim(rest.substr(e));
            if (word == "param" || word == "ptr" || word == "global" || word == "shared" || word == "const" || word == "local") continue;
            if (word == "align") {
                size_t e2 = 0;
                while (e2 < rest.size() && std::isdigit(static_cast<unsigned char>(rest[e2]))) ++e2;
                int64_t a = 0;
                parse_int(rest.substr(0, e2), a);
                align = static_cast<uint32_t>(a);
                rest = trim(rest.substr(e2));
                continue;
            }
            type = parse_type(word);
            if (type == T::none) return error(line, p, "unsupported parameter modifier ." + std::string(word));
        }
        if (type == T::none || type == T::pred) return error(line, p, "parameter without a type");
        size_t br = rest.find('[');
        prm.name = std::string(trim(rest.substr(0, br)));
        uint64_t count = 1;
        if (br != std::string_view::npos) {
            int64_t n = 0;
            if (!parse_int(rest.substr(br + 1, rest.find(']') - br - 1), n) || n <= 0) return error(line, p, "bad parameter array");
            count = static_cast<uint64_t>(n);
        }
        uint32_t elem = type_bits(type) / 8;
        prm.size = static_cast<uint32_t>(elem * count);
        prm.align = align ? align : elem;
        prm.offset = (k.param_bytes + prm.align - 1) / prm.align * prm.align;
        k.param_bytes = prm.offset + prm.size;
        k.params.push_back(prm);
    }
    return true;
}

bool Parser::parse_reg_decl(std::string_view decl) {
    std::string_view rest = trim(decl.substr(4));
    T type = T::none;
    while (!rest.empty() && rest[0] == '.') {
        size_t e = 1;
        while (e < rest.size() && ident_char(rest[e]) && rest[e] != '.') ++e;
        std::string_view word = rest.substr(1, e - 1);
        rest = trim(rest.substr(e));
        if (word == "v2" || word == "v4") return error(line_, decl, "vector registers are not supported");
        type = parse_type(word);
        if (type == T::none) return error(line_, decl, "bad register type");
    }
    for (auto item : split_top(rest, ',')) {
        size_t lt = item.find('<');
        if (lt != std::string_view::npos) {
            int64_t n = 0;
            if (!parse_int(item.substr(lt + 1, item.find('>') - lt - 1), n) || n < 0) return error(line_, decl, "bad register range");
            scopes_.back().ranges[std::string(item.substr(0, lt))] = RegRange{k_->nregs, static_cast<uint32_t>(n), type};
            k_->nregs += static_cast<uint32_t>(n);
        } else {
            scopes_.back().names[std::string(item)] = RegName{k_->nregs++, type};
        }
    }
    return true;
}

bool Parser::parse_operand(std::string_view s, POperand& op) {
    s = trim(s);
    if (s.empty()) return false;
    if (s[0] == '{') {
        op.kind = POperand::vec;
        if (s.back() != '}') return false;
        for (auto e : split_top(s.substr(1, s.size() - 2), ',')) {
            POperand x;
            if (!parse_operand(e, x)) return false;
            op.elems.push_back(std::move(x));
        }
        return true;
    }
    if (s[0] == '[') {
        op.kind = POperand::addr;
        if (s.back() != ']') return false;
        std::string_view in = trim(s.substr(1, s.size() - 2));
        size_t plus = in.find_first_of("+-", 1);
        std::string_view base = trim(in.substr(0, plus));
        if (plus != std::string_view::npos) {
            std::string_view off = trim(in.substr(plus + (in[plus] == '+' ? 1 : 0)));
            if (!parse_int(off, op.i)) return false;
        }
        if (base.empty()) return false;
        if (base[0] == '%') {
            auto* r = find_reg(base);
            if (!r) return false;
            op.r = r->index;
            op.rtype = r->type;
        } else if (std::isdigit(static_cast<unsigned char>(base[0])) || base[0] == '-') {
            int64_t v = 0;
            if (!parse_int(base, v)) return false;
            op.i += v;
        } else {
            op.name = base;
        }
        return true;
    }
    if (s[0] == '!' && s.size() > 1 && s[1] == '%') {   // negated predicate operand (setp/vote)
        if (!parse_operand(s.substr(1), op)) return false;
        op.name = "!";
        return true;
    }
    if (s[0] == '%') {
        size_t bar = s.find('|');
        std::string_view name = trim(s.substr(0, bar));
        for (auto& sp : kSpecials) if (sp.name == name) { op.kind = POperand::reg; op.r = sp.index; op.rtype = T::u32; return true; }
        auto* r = find_reg(name);
        if (!r) { fail("unknown or unsupported register " + std::string(name)); return false; }
        op.kind = POperand::reg;
        op.r = r->index;
        op.rtype = r->type;
        if (bar != std::string_view::npos) {
            auto* r2 = find_reg(trim(s.substr(bar + 1)));
            if (!r2) return false;
            op.r2 = r2->index;
        }
        return true;
    }
    if (s == "_") { op.kind = POperand::reg; op.r = sp_sink; return true; }
    if (parse_fimm(s, op.i, op.f64)) { op.kind = POperand::fimm; return true; }
    if (parse_int(s, op.i)) { op.kind = POperand::imm; return true; }
    if (std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_' || s[0] == '$') {
        for (char c : s) if (!ident_char(c) || c == '%') return false;
        op.kind = POperand::sym;
        op.name = s;
        return true;
    }
    return false;
}

const RegName* Parser::find_reg(std::string_view name) const {
    std::string key(name);
    size_t d = name.size();
    while (d > 0 && std::isdigit(static_cast<unsigned char>(name[d - 1]))) --d;
    for (size_t i = scopes_.size(); i-- > 0;) {
        auto& sc = scopes_[i];
        auto it = sc.names.find(key);
        if (it != sc.names.end()) return &it->second;
        if (d < name.size() && d > 0) {
            auto rt = sc.ranges.find(std::string(name.substr(0, d)));
            if (rt != sc.ranges.end()) {
                int64_t n = 0;
                if (name.size() - d > 1 && name[d] == '0') continue;   // %r01 is not %r1
                parse_int(name.substr(d), n);
                if (static_cast<uint64_t>(n) < rt->second.count) {
                    thread_local RegName tmp;
                    tmp = RegName{rt->second.base + static_cast<uint32_t>(n), rt->second.type};
                    return &tmp;
                }
            }
        }
    }
    return nullptr;
}

const Var* Parser::find_var(std::string_view name) const {
    auto it = kernel_vars_.find(name);
    if (it != kernel_vars_.end()) return &it->second;
    auto mt = module_vars_.find(name);
    return mt == module_vars_.end() ? nullptr : &mt->second;
}

uint32_t Parser::constant(uint64_t bits) {
    std::string key = std::to_string(bits);
    auto it = const_regs_.find(key);
    if (it != const_regs_.end()) return it->second;
    uint32_t r = k_->nregs++;
    k_->consts.emplace_back(r, bits);
    const_regs_[key] = r;
    return r;
}

// The register holding a symbol's address in its space (and the space).
uint32_t Parser::symbol_reg(std::string_view name, Space* space) {
    for (size_t i = 0; i < k_->params.size(); ++i) {
        if (k_->params[i].name == name) { *space = Space::param; return constant(k_->params[i].offset); }
    }
    const Var* v = find_var(name);
    if (!v) { fail("unknown symbol " + std::string(name)); return kNoReg; }
    *space = v->space;
    if (v->space == Space::shared) {
        if (v->external) {
            k_->dyn_align = std::max(k_->dyn_align, v->align);
            return sp_dyn_smem_base;
        }
        if (kernel_vars_.count(name)) return constant(v->address);
        auto it = shared_offsets_.find(name);
        if (it == shared_offsets_.end()) {   // module-scope .shared: placed in this kernel's static shared memory
            uint32_t off = (k_->static_shared + v->align - 1) / v->align * v->align;
            k_->static_shared = off + v->size;
            it = shared_offsets_.emplace(std::string(name), off).first;
        }
        return constant(it->second);
    }
    return constant(v->address);
}

uint32_t Parser::src(const POperand& op, T t) {
    switch (op.kind) {
        case POperand::reg: return op.r;
        case POperand::imm: {
            uint64_t bits = static_cast<uint64_t>(op.i);
            if (t == T::f32) bits = std::bit_cast<uint32_t>(static_cast<float>(op.i));
            else if (t == T::f64) bits = std::bit_cast<uint64_t>(static_cast<double>(op.i));
            else if (is_float(t)) { fail("integer immediate for a " + std::to_string(type_bits(t)) + "-bit float operand"); return kNoReg; }
            else if (type_bits(t) > 0 && type_bits(t) < 64) bits &= (1ull << type_bits(t)) - 1;
            return constant(bits);
        }
        case POperand::fimm: {
            uint64_t bits = static_cast<uint64_t>(op.i);
            if (t == T::f32 && op.f64) bits = std::bit_cast<uint32_t>(static_cast<float>(std::bit_cast<double>(bits)));
            else if (t == T::f64 && !op.f64) bits = std::bit_cast<uint64_t>(static_cast<double>(std::bit_cast<float>(static_cast<uint32_t>(bits))));
            return constant(bits);
        }
        case POperand::sym: {
            Space sp;
            return symbol_reg(op.name, &sp);
        }
        default: fail("operand is not a value"); return kNoReg;
    }
}

uint32_t Parser::dst(const POperand& op) {
    if (op.kind != POperand::reg) { fail("destination is not a register"); return kNoReg; }
    if (op.r < sp_count && op.r != sp_sink) { fail("special registers are read-only"); return kNoReg; }
    return op.r;
}

bool Parser::address(const POperand& op, Space& space, uint32_t& base, int64_t& offset) {
    if (op.kind != POperand::addr) { fail("expected an address [..]"); return false; }
    offset = op.i;
    if (!op.name.empty()) {
        Space sym_space;
        base = symbol_reg(op.name, &sym_space);
        if (base == kNoReg) return false;
        if (space == Space::generic) {
            if (sym_space != Space::global && sym_space != Space::konst) { fail("generic access to a non-global symbol"); return false; }
        } else if (sym_space != space && !(space == Space::global && sym_space == Space::konst)
                   && !(space == Space::konst && sym_space == Space::global)) {
            fail("symbol " + std::string(op.name) + " is not in the instruction's state space");
            return false;
        }
        return true;
    }
    base = op.r == kNoReg ? sp_zero : op.r;
    return true;
}

uint32_t Parser::label(const POperand& op, Inst& in) {
    if (op.kind != POperand::sym) { fail("expected a label"); return kNoReg; }
    fixups_.emplace_back(static_cast<uint32_t>(k_->code.size()), op.name);
    fixup_lines_.push_back(line_);
    return 0;
}

}  // namespace parse
}  // namespace pdemu::ptx
