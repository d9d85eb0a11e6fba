// Hand-written PTX kernels for the driver tests (written against the PTX ISA, independent of nvcc).
#pragma once

// fill(out, n, v): out[i] = v for i < n.  fill_unchecked(out, v): out[i] = v with no bound check.
// store_misaligned(out): a 4-byte store at out + 2.  small_block(): .maxntid 128.  uses_shared(): 16 KiB static shared.
inline const char* kTestPtx = R"(
.version 8.0
.target sm_90
.address_size 64

.visible .entry fill(
    .param .u64 fill_out,
    .param .u32 fill_n,
    .param .f32 fill_v
)
{
    .reg .pred %p<2>;
    .reg .b32 %r<6>;
    .reg .f32 %f<2>;
    .reg .b64 %rd<5>;

    ld.param.u64 %rd1, [fill_out];
    ld.param.u32 %r1, [fill_n];
    ld.param.f32 %f1, [fill_v];
    mov.u32 %r2, %ctaid.x;
    mov.u32 %r3, %ntid.x;
    mov.u32 %r4, %tid.x;
    mad.lo.s32 %r5, %r2, %r3, %r4;
    setp.ge.u32 %p1, %r5, %r1;
    @%p1 bra $L_done;
    cvta.to.global.u64 %rd2, %rd1;
    mul.wide.u32 %rd3, %r5, 4;
    add.s64 %rd4, %rd2, %rd3;
    st.global.f32 [%rd4], %f1;
$L_done:
    ret;
}

.visible .entry fill_unchecked(
    .param .u64 fu_out,
    .param .f32 fu_v
)
{
    .reg .b32 %r<5>;
    .reg .f32 %f<2>;
    .reg .b64 %rd<5>;

    ld.param.u64 %rd1, [fu_out];
    ld.param.f32 %f1, [fu_v];
    mov.u32 %r2, %ctaid.x;
    mov.u32 %r3, %ntid.x;
    mov.u32 %r4, %tid.x;
    mad.lo.s32 %r1, %r2, %r3, %r4;
    cvta.to.global.u64 %rd2, %rd1;
    mul.wide.u32 %rd3, %r1, 4;
    add.s64 %rd4, %rd2, %rd3;
    st.global.f32 [%rd4], %f1;
    ret;
}

.visible .entry store_misaligned(
    .param .u64 sm_out
)
{
    .reg .f32 %f<2>;
    .reg .b64 %rd<3>;

    ld.param.u64 %rd1, [sm_out];
    cvta.to.global.u64 %rd2, %rd1;
    mov.f32 %f1, 0f3F800000;
    st.global.f32 [%rd2+2], %f1;
    ret;
}

.visible .entry small_block()
.maxntid 128, 1, 1
{
    ret;
}

.visible .entry uses_shared()
{
    .reg .b32 %r<2>;
    .shared .align 4 .b8 us_buf[16384];

    mov.u32 %r1, %tid.x;
    st.shared.u32 [us_buf], %r1;
    ret;
}
)";
