// Tensor core family: mma.sync.aligned.m16n8k16 / m16n8k8 .row.col with f16 or bf16 A/B and f32 (or, for f16
// inputs, f16) C/D. Fragments are distributed over the warp exactly as the PTX ISA's tables give them
// ("Matrix Fragments for mma.m16n8k16 with floating point type", "... for mma.m16n8k8"):
//   groupID = %laneid >> 2, threadID_in_group = %laneid % 4
//   A (row-major 16xK, .f16x2/.bf16x2 registers, element a_i in register i/2, a_(2j) in the low half):
//     row(a_i) = groupID for i in {0,1,4,5}, groupID + 8 otherwise
//     col(a_i) = threadID_in_group * 2 + (i & 1) for i < 4, + 8 for i >= 4            (k16; k8 has a0..a3)
//   B (column-major Kx8): row(b_i) = threadID_in_group * 2 + (i & 1) for i < 2, + 8 for i >= 2; col = groupID
//   C/D (16x8): row(c_i) = groupID for i < 2, groupID + 8 otherwise; col = threadID_in_group * 2 + (i & 1)
// Accumulation is in f32: D = C + sum_k A*B, each product exact (f16*f16 and bf16*bf16 fit in f32), added in
// increasing k. The hardware's internal summation order/precision is not specified; see docs/PTX.md.
#include <cstdio>
#include <cstring>

#include "ptx/fp16.h"
#include "ptx/ir.h"

namespace pdemu::ptx {

namespace {

// o: d[0..3] at 0, a[0..3] at 4, b[0..1] at 8, c[0..3] at 12; n: K (8 or 16); flags: 1 bf16 inputs, 2 f16 C/D
void mma_op(Warp& w, const Inst& in, uint32_t m) {
    if (m != kFullMask) {
        char buf[96];
        std::snprintf(buf, sizeof buf, "mma.sync.aligned executed by lanes 0x%08x; all 32 lanes must execute it", m);
        fault(w, std::countr_zero(m), LaunchStatus::illegal_instruction, buf);
        return;
    }
    ++w.sync_count;
    const int K = in.n;
    const bool bf = in.flags & 1, f16acc = in.flags & 2;
    float A[16][16], B[16][8], C[16][8];
    const uint64_t *ra[4], *rb[2], *rc[4];
    for (int i = 0; i < K / 4; ++i) ra[i] = reg(w, in.o[4 + i]);
    for (int i = 0; i < K / 8; ++i) rb[i] = reg(w, in.o[8 + i]);
    for (int i = 0; i < (f16acc ? 2 : 4); ++i) rc[i] = reg(w, in.o[12 + i]);
    auto half = [bf](uint64_t r, int hi) {
        uint16_t h = static_cast<uint16_t>(r >> (hi * 16));
        return bf ? bf16_to_f32(h) : f16_to_f32(h);
    };
    for (int lane = 0; lane < 32; ++lane) {
        const int g = lane >> 2, t = lane & 3;
        for (int i = 0; i < K / 2; ++i) {        // a_i
            uint64_t r = ra[i / 2][lane];
            int row = (i % 4 < 2) ? g : g + 8;
            int col = t * 2 + (i & 1) + (i >= 4 ? 8 : 0);
            A[row][col] = half(r, i & 1);
        }
        for (int i = 0; i < K / 4; ++i) {        // b_i
            uint64_t r = rb[i / 2][lane];
            B[t * 2 + (i & 1) + (i >= 2 ? 8 : 0)][g] = half(r, i & 1);
        }
        for (int i = 0; i < 4; ++i) {            // c_i
            int row = i < 2 ? g : g + 8, col = t * 2 + (i & 1);
            C[row][col] = f16acc ? half(rc[i / 2][lane], i & 1) : ld<float>(rc[i][lane]);
        }
    }
    float D[16][8];
    for (int r = 0; r < 16; ++r)
        for (int c = 0; c < 8; ++c) {
            float acc = C[r][c];
            for (int k = 0; k < K; ++k) acc += A[r][k] * B[k][c];
            D[r][c] = acc;
        }
    for (int lane = 0; lane < 32; ++lane) {
        const int g = lane >> 2, t = lane & 3;
        if (f16acc) {
            for (int j = 0; j < 2; ++j) {
                int row = j == 0 ? g : g + 8;
                uint32_t lo = f32_to_f16(D[row][t * 2], fr_rn), hi = f32_to_f16(D[row][t * 2 + 1], fr_rn);
                reg(w, in.o[j])[lane] = (hi << 16) | lo;
            }
        } else {
            for (int i = 0; i < 4; ++i) reg(w, in.o[i])[lane] = st<float>(D[i < 2 ? g : g + 8][t * 2 + (i & 1)]);
        }
    }
}

// ldmatrix.sync.aligned.m8n8.{x1,x2,x4}{.trans}.shared.b16 d, [a] (PTX ISA, "ldmatrix"): matrix j's 8 rows of 16
// bytes start at the addresses held by threads 8j..8j+7; lane l receives in d_j the elements (l/4, 2*(l%4)) and
// (l/4, 2*(l%4)+1) of matrix j, the lower column in the low half; .trans delivers the transposed matrix, i.e.
// elements (2*(l%4), l/4) and (2*(l%4)+1, l/4). o: d_j at 0..3, address base at 8; n: number of matrices;
// flags: 1 trans. space: shared or generic.
void ldmatrix_op(Warp& w, const Inst& in, uint32_t m) {
    if (m != kFullMask) {
        char buf[96];
        std::snprintf(buf, sizeof buf, "ldmatrix.sync.aligned executed by lanes 0x%08x; all 32 lanes must execute it", m);
        fault(w, std::countr_zero(m), LaunchStatus::illegal_instruction, buf);
        return;
    }
    ++w.sync_count;
    const uint64_t* base = reg(w, in.o[8]);
    uint16_t M[4][8][8];
    for (int j = 0; j < in.n; ++j)
        for (int r = 0; r < 8; ++r) {
            int lane = 8 * j + r;
            uint8_t* p = access(w, lane, in.space, base[lane] + static_cast<uint64_t>(in.imm), 16, false);
            if (!p) return;
            std::memcpy(M[j][r], p, 16);
        }
    const bool trans = in.flags & 1;
    for (int j = 0; j < in.n; ++j) {
        uint64_t* d = reg(w, in.o[j]);
        for (int lane = 0; lane < 32; ++lane) {
            int g = lane >> 2, c = (lane & 3) * 2;
            uint32_t lo = trans ? M[j][c][g] : M[j][g][c], hi = trans ? M[j][c + 1][g] : M[j][g][c + 1];
            d[lane] = (hi << 16) | lo;
        }
    }
}

bool decode_ldmatrix(Decoder& d, const Stmt& s, Inst& in) {
    in.space = Space::generic;
    bool shape = false, sync = false, aligned = false, b16 = false;
    for (auto m : s.mods) {
        if (m == "sync") sync = true;
        else if (m == "aligned") aligned = true;
        else if (m == "m8n8") shape = true;
        else if (m == "x1" || m == "x2" || m == "x4") in.n = static_cast<uint8_t>(m[1] - '0');
        else if (m == "trans") in.flags = 1;
        else if (m == "shared" || m == "shared::cta") in.space = Space::shared;
        else if (m == "b16") b16 = true;
        else { d.fail("unsupported ldmatrix qualifier ." + std::string(m)); return false; }
    }
    if (!shape || !sync || !aligned || !b16 || !in.n || s.ops.size() != 2) {
        d.fail("only ldmatrix.sync.aligned.m8n8.{x1,x2,x4}{.trans}{.shared}.b16 is supported");
        return false;
    }
    const POperand& dst = s.ops[0];
    if (in.n == 1 && dst.kind == POperand::reg) in.o[0] = d.dst(dst);
    else if (dst.kind == POperand::vec && dst.elems.size() == in.n) for (int j = 0; j < in.n; ++j) in.o[j] = d.dst(dst.elems[j]);
    else { d.fail("ldmatrix destination does not match ." + std::string("x") + std::to_string(in.n)); return false; }
    if (!d.address(s.ops[1], in.space, in.o[8], in.imm)) return false;
    in.fn = ldmatrix_op;
    in.sync = true;
    return !d.failed();
}

bool regs(Decoder& d, const POperand& op, size_t n, uint32_t* out, bool dst) {
    if (op.kind != POperand::vec || op.elems.size() != n) { d.fail("mma fragment has the wrong number of registers"); return false; }
    for (size_t i = 0; i < n; ++i) out[i] = dst ? d.dst(op.elems[i]) : d.src(op.elems[i], T::b32);
    return !d.failed();
}

bool decode_mma(Decoder& d, const Stmt& s, Inst& in) {
    // mma.sync.aligned.SHAPE.row.col.DTYPE.ATYPE.BTYPE.CTYPE
    auto& mo = s.mods;
    if (mo.size() != 9 || mo[0] != "sync" || mo[1] != "aligned" || mo[3] != "row" || mo[4] != "col") {
        d.fail("only mma.sync.aligned.{m16n8k16,m16n8k8}.row.col with f16/bf16 inputs is supported");
        return false;
    }
    int K = mo[2] == "m16n8k16" ? 16 : mo[2] == "m16n8k8" ? 8 : 0;
    T dt = parse_type(mo[5]), at = parse_type(mo[6]), bt = parse_type(mo[7]), ct = parse_type(mo[8]);
    if (!K || at != bt || (at != T::f16 && at != T::bf16) || dt != ct || (dt != T::f32 && dt != T::f16) ||
        (at == T::bf16 && dt != T::f32) || s.ops.size() != 4) {
        d.fail("unsupported mma shape or types");
        return false;
    }
    in.n = static_cast<uint8_t>(K);
    in.flags = (at == T::bf16 ? 1 : 0) | (dt == T::f16 ? 2 : 0);
    size_t nacc = dt == T::f32 ? 4 : 2;
    if (!regs(d, s.ops[0], nacc, in.o + 0, true) || !regs(d, s.ops[1], K / 4, in.o + 4, false) ||
        !regs(d, s.ops[2], K / 8, in.o + 8, false) || !regs(d, s.ops[3], nacc, in.o + 12, false))
        return false;
    in.fn = mma_op;
    in.sync = true;
    return true;
}

}  // namespace

void register_mma_ops(OpTable& t) {
    t["mma"] = decode_mma;
    t["ldmatrix"] = decode_ldmatrix;
}

}  // namespace pdemu::ptx
