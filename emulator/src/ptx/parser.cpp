// PTX text -> KernelCode: the scanner over the module's statements, kernels (.entry header, directives, body with
// brace scopes and labels), instruction statements and label fixups. Declarations and operands: parser_decls.cpp.
// Opcode semantics live in the family files (ops_*.cpp), which decode a Stmt into an Inst through Decoder.
#include <algorithm>
#include <charconv>
#include <map>
#include <memory>

#include <atomic>

#include "ptx/parser.h"

namespace pdemu::ptx {
namespace parse {

void Parser::skip_space() {
    while (pos_ < src_.size()) {
        char c = src_[pos_];
        if (std::isspace(static_cast<unsigned char>(c))) { ++pos_; continue; }
        if (c == '/' && pos_ + 1 < src_.size() && src_[pos_ + 1] == '/') {
            while (pos_ < src_.size() && src_[pos_] != '\n') ++pos_;
            continue;
        }
        if (c == '/' && pos_ + 1 < src_.size() && src_[pos_ + 1] == '*') {
            size_t e = src_.find("*/", pos_ + 2);
            pos_ = e == std::string_view::npos ? src_.size() : e + 2;
            continue;
        }
        break;
    }
}

std::string_view Parser::read_until(char c) {
    size_t start = pos_;
    bool quoted = false;
    while (pos_ < src_.size() && (quoted || src_[pos_] != c)) {
        if (src_[pos_] == '"') quoted = !quoted;
        ++pos_;
    }
    std::string_view s = src_.substr(start, pos_ - start);
    if (pos_ < src_.size()) ++pos_;
    // comments inside a multi-line statement
    if (s.find("//") != std::string_view::npos) {
        auto* owned = new std::string;   // owned by the module so that string_views into it stay valid
        module_.keep(owned);
        for (auto line : split_top(s, '\n')) {
            size_t cpos = line.find("//");
            owned->append(line.substr(0, cpos)).push_back('\n');
        }
        return *owned;
    }
    return s;
}

std::string_view Parser::read_line() { return trim(read_until('\n')); }

std::string_view Parser::peek_word() {
    size_t e = pos_;
    while (e < src_.size() && ident_char(src_[e])) ++e;
    return src_.substr(pos_, e - pos_);
}

bool Parser::run(std::string* error_out) {
    bool ok = true;
    while (ok) {
        skip_space();
        if (pos_ >= src_.size()) break;
        uint32_t line = line_at(pos_);
        std::string_view w = peek_word();
        if (w == ".version" || w == ".target" || w == ".file") { read_line(); continue; }
        if (w == ".address_size") {
            auto l = read_line();
            if (trim(l.substr(13)) != "64") ok = error(line, l, "only .address_size 64 is supported");
            continue;
        }
        size_t save = pos_;
        std::string_view head = src_.substr(pos_, std::min<size_t>(200, src_.size() - pos_));
        if (head.find(".entry") != std::string_view::npos && head.find(".entry") < head.find_first_of(";\n")) {
            ok = parse_entry(line);
            continue;
        }
        if (head.find(".func") != std::string_view::npos && head.find(".func") < head.find_first_of(";\n")) {
            ok = error(line, read_line(), "device functions (.func) and calls are not supported");
            break;
        }
        pos_ = save;
        std::string_view decl = read_until(';');
        ok = parse_variable(trim(decl), line, true);
    }
    if (!ok) {
        *error_out = "line " + std::to_string(err_line_) + ": " + err_ + ": " + std::string(trim(err_text_));
        return false;
    }
    return true;
}


bool Parser::parse_entry(uint32_t line) {
    std::string_view header = read_until('(');
    auto words = split_top(trim(header), ' ');
    std::string name(trim(header.substr(header.find(".entry") + 6)));
    auto kc = std::make_unique<KernelCode>();
    k_ = kc.get();
    static std::atomic<uint64_t> next_id{1};
    k_->id = next_id++;
    k_->name = name;
    scopes_.assign(1, Scope{});
    const_regs_.clear();
    kernel_vars_.clear();
    shared_offsets_.clear();
    labels_.clear();
    fixups_.clear();
    fixup_lines_.clear();
    std::string_view plist = read_until(')');
    if (!parse_params(plist, line)) return false;
    // performance directives up to the body
    for (;;) {
        skip_space();
        if (pos_ >= src_.size()) return error(line, name, "kernel without a body");
        if (src_[pos_] == '{') { ++pos_; break; }
        if (src_[pos_] == ';') { ++pos_; return error(line, name, "kernel declarations without a body are not supported"); }
        uint32_t dline = line_at(pos_);
        std::string_view d = read_line();
        if (!d.empty() && d.back() == ';') d.remove_suffix(1);
        auto sp = d.find_first_of(" \t");
        std::string_view dname = d.substr(0, sp);
        if (dname == ".maxntid" || dname == ".reqntid") {
            uint32_t* dst = dname == ".maxntid" ? k_->maxntid : k_->reqntid;
            auto dims = split_top(d.substr(sp), ',');
            for (size_t i = 0; i < 3; ++i) {
                int64_t v = 1;
                if (i < dims.size() && !parse_int(dims[i], v)) return error(dline, d, "bad " + std::string(dname));
                dst[i] = static_cast<uint32_t>(v);
            }
        } else if (dname != ".minnctapersm" && dname != ".maxnreg" && dname != ".maxnctapersm" && dname != ".noreturn"
                   && dname != ".maxclusterrank" && dname != ".reqnctapercluster" && dname != ".explicitcluster") {
            return error(dline, d, "unsupported kernel directive");
        }
    }
    if (!parse_body()) return false;
    for (size_t i = 0; i < fixups_.size(); ++i) {
        auto it = labels_.find(fixups_[i].second);
        if (it == labels_.end()) return error(fixup_lines_[i], fixups_[i].second, "undefined label");
        k_->code[fixups_[i].first].target = it->second;
    }
    // a kernel that falls off its end exits
    Inst ret;
    ret.ctl = Ctl::exit;
    ret.text = static_cast<uint32_t>(k_->texts.size());
    k_->texts.push_back("(end of kernel)");
    k_->code.push_back(ret);
    module_.add_kernel(std::move(kc));
    return true;
}

bool Parser::parse_body() {
    int depth = 1;
    for (;;) {
        skip_space();
        if (pos_ >= src_.size()) return error(line_, "", "unterminated kernel body");
        line_ = line_at(pos_);
        char c = src_[pos_];
        if (c == '{') { ++pos_; ++depth; scopes_.emplace_back(); continue; }
        if (c == '}') {
            ++pos_;
            if (--depth == 0) return true;
            scopes_.pop_back();
            continue;
        }
        std::string_view w = peek_word();
        if (w == ".loc" || w == ".file") { read_line(); continue; }
        if (w.empty() && c != '@') return error(line_, read_line(), "unexpected text");
        // label?
        size_t after = pos_ + w.size();
        if (!w.empty() && w[0] != '.' && w[0] != '%' && after < src_.size() && src_[after] == ':') {
            labels_[std::string(w)] = static_cast<uint32_t>(k_->code.size());
            pos_ = after + 1;
            continue;
        }
        std::string_view stmt = trim(read_until(';'));
        if (w == ".reg") { if (!parse_reg_decl(stmt)) return false; continue; }
        if (w == ".pragma") continue;   // "nounroll" etc.: compiler hints
        if (w == ".local" || w == ".shared" || w == ".global" || w == ".const") {
            if (!parse_variable(stmt, line_, false)) return false;
            continue;
        }
        if (!w.empty() && w[0] == '.') return error(line_, stmt, "unsupported directive in a kernel body");
        if (!parse_instruction(stmt, line_)) return false;
    }
}

bool Parser::parse_instruction(std::string_view text, uint32_t line) {
    Stmt st;
    st.text = text;
    st.line = line;
    Inst in;
    std::string_view s = text;
    if (s[0] == '@') {
        size_t e = s.find_first_of(" \t");
        std::string_view g = s.substr(1, e - 1);
        if (!g.empty() && g[0] == '!') { in.guard_neg = true; g.remove_prefix(1); }
        auto* r = find_reg(g);
        if (!r || r->type != T::pred) return error(line, text, "bad guard predicate");
        in.guard = r->index;
        s = trim(s.substr(e));
    }
    size_t e = s.find_first_of(" \t");
    std::string_view opcode = s.substr(0, e);
    std::string_view operands = e == std::string_view::npos ? std::string_view{} : trim(s.substr(e));
    size_t dot = opcode.find('.');
    st.base = opcode.substr(0, dot);
    while (dot != std::string_view::npos) {
        size_t next = opcode.find('.', dot + 1);
        st.mods.push_back(opcode.substr(dot + 1, next == std::string_view::npos ? std::string_view::npos : next - dot - 1));
        dot = next;
    }
    if (!operands.empty()) {
        for (auto o : split_top(operands, ',')) {
            POperand op;
            if (!parse_operand(o, op)) {
                std::string why = err_.empty() ? "cannot parse operand '" + std::string(o) + "'" : err_;
                err_.clear();
                return error(line, text, why);
            }
            st.ops.push_back(std::move(op));
        }
    }
    auto it = ops_.find(st.base);
    if (it == ops_.end()) return error(line, text, "unsupported instruction");
    stmt_text_ = text;
    in.line = line;
    in.text = static_cast<uint32_t>(k_->texts.size());
    bool ok = it->second(*this, st, in);
    if (!ok || failed()) {
        std::string why = err_.empty() ? "unsupported form of '" + std::string(st.base) + "'" : err_;
        err_.clear();
        return error(line, text, why);
    }
    k_->texts.emplace_back(text);
    k_->code.push_back(in);
    return true;
}

}  // namespace parse

std::unique_ptr<Module> load_ptx(std::string_view text, DeviceMemory& memory, std::string* error) {
    auto module = std::make_unique<ModuleImpl>(memory);
    parse::Parser p(text, memory, *module);
    std::string err;
    if (!p.run(&err)) {
        if (error) *error = err;
        return nullptr;
    }
    return module;
}

}  // namespace pdemu::ptx

namespace pdemu {
std::unique_ptr<Module> load_ptx(std::string_view text, DeviceMemory& memory, std::string* error) {
    return ptx::load_ptx(text, memory, error);
}
}  // namespace pdemu
