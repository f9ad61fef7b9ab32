namespace GpuRunner.Diagnostics.Models;

/// <summary>
/// PTX for the native engine: a fused linear layer (bias + optional ReLU) and a row softmax. `.target sm_52` so the
/// driver JIT-compiles it for any GPU since Maxwell; plain FP32 FMA (no tensor cores), so results stay within the
/// models' FP32 tolerance. Simple on purpose: this engine proves "the model runs on the device" wherever the CUDA
/// driver works, it is not tuned for speed.
/// </summary>
internal static class NativeKernels
{
    public const string LinearName = "linearForward";
    public const string SoftmaxName = "softmaxRows";

    // linearForward(x, wt, bias, y, B, K, N, relu): one thread per output y[b, o] (o fastest, so the loads of the
    // transposed weight wt[k, o] are coalesced across a warp); y = x[b, :] . wt[:, o] + bias[o], then max(y, 0).
    // softmaxRows(y, B, N): one thread per row, in place, max-subtracted, exp via ex2.approx (|rel err| < 2^-21).
    public const string Ptx = """
        .version 6.0
        .target sm_52
        .address_size 64

        .visible .entry linearForward(
            .param .u64 px,
            .param .u64 pwt,
            .param .u64 pbias,
            .param .u64 py,
            .param .u32 pB,
            .param .u32 pK,
            .param .u32 pN,
            .param .u32 prelu
        )
        {
            .reg .pred  %p<4>;
            .reg .b32   %r<16>;
            .reg .f32   %f<4>;
            .reg .b64   %rd<16>;

            ld.param.u64    %rd1, [px];
            ld.param.u64    %rd2, [pwt];
            ld.param.u64    %rd3, [pbias];
            ld.param.u64    %rd4, [py];
            ld.param.u32    %r1, [pB];
            ld.param.u32    %r2, [pK];
            ld.param.u32    %r3, [pN];
            ld.param.u32    %r4, [prelu];
            mov.u32         %r5, %ctaid.x;
            mov.u32         %r6, %ntid.x;
            mov.u32         %r7, %tid.x;
            mad.lo.s32      %r8, %r5, %r6, %r7;
            mul.lo.s32      %r9, %r1, %r3;
            setp.ge.u32     %p1, %r8, %r9;
            @%p1 bra        DONE;

            cvta.to.global.u64  %rd1, %rd1;
            cvta.to.global.u64  %rd2, %rd2;
            cvta.to.global.u64  %rd3, %rd3;
            cvta.to.global.u64  %rd4, %rd4;
            div.u32         %r10, %r8, %r3;
            rem.u32         %r11, %r8, %r3;
            mul.wide.u32    %rd5, %r11, 4;
            add.s64         %rd6, %rd3, %rd5;
            ld.global.f32   %f1, [%rd6];
            mul.lo.s32      %r12, %r10, %r2;
            mul.wide.u32    %rd7, %r12, 4;
            add.s64         %rd8, %rd1, %rd7;
            add.s64         %rd9, %rd2, %rd5;
            mul.wide.u32    %rd10, %r3, 4;
            mov.u32         %r13, 0;
            setp.eq.u32     %p2, %r2, 0;
            @%p2 bra        ACT;
        LOOP:
            ld.global.f32   %f2, [%rd8];
            ld.global.f32   %f3, [%rd9];
            fma.rn.f32      %f1, %f2, %f3, %f1;
            add.s64         %rd8, %rd8, 4;
            add.s64         %rd9, %rd9, %rd10;
            add.s32         %r13, %r13, 1;
            setp.lt.u32     %p3, %r13, %r2;
            @%p3 bra        LOOP;
        ACT:
            setp.eq.u32     %p2, %r4, 0;
            @%p2 bra        STORE;
            max.f32         %f1, %f1, 0f00000000;
        STORE:
            mul.wide.u32    %rd11, %r8, 4;
            add.s64         %rd12, %rd4, %rd11;
            st.global.f32   [%rd12], %f1;
        DONE:
            ret;
        }

        .visible .entry softmaxRows(
            .param .u64 py,
            .param .u32 pB,
            .param .u32 pN
        )
        {
            .reg .pred  %p<4>;
            .reg .b32   %r<12>;
            .reg .f32   %f<8>;
            .reg .b64   %rd<8>;

            ld.param.u64    %rd1, [py];
            ld.param.u32    %r1, [pB];
            ld.param.u32    %r2, [pN];
            mov.u32         %r3, %ctaid.x;
            mov.u32         %r4, %ntid.x;
            mov.u32         %r5, %tid.x;
            mad.lo.s32      %r6, %r3, %r4, %r5;
            setp.ge.u32     %p1, %r6, %r1;
            @%p1 bra        DONE;
            setp.eq.u32     %p1, %r2, 0;
            @%p1 bra        DONE;

            cvta.to.global.u64  %rd1, %rd1;
            mul.lo.s32      %r7, %r6, %r2;
            mul.wide.u32    %rd2, %r7, 4;
            add.s64         %rd3, %rd1, %rd2;

            ld.global.f32   %f1, [%rd3];
            mov.u32         %r8, 1;
            mov.u64         %rd4, %rd3;
        MAXLOOP:
            setp.ge.u32     %p2, %r8, %r2;
            @%p2 bra        MAXDONE;
            add.s64         %rd4, %rd4, 4;
            ld.global.f32   %f2, [%rd4];
            max.f32         %f1, %f1, %f2;
            add.s32         %r8, %r8, 1;
            bra.uni         MAXLOOP;
        MAXDONE:
            mov.f32         %f3, 0f00000000;
            mov.u32         %r8, 0;
            mov.u64         %rd4, %rd3;
        EXPLOOP:
            ld.global.f32   %f2, [%rd4];
            sub.f32         %f2, %f2, %f1;
            mul.f32         %f2, %f2, 0f3FB8AA3B;
            ex2.approx.f32  %f2, %f2;
            st.global.f32   [%rd4], %f2;
            add.f32         %f3, %f3, %f2;
            add.s64         %rd4, %rd4, 4;
            add.s32         %r8, %r8, 1;
            setp.lt.u32     %p3, %r8, %r2;
            @%p3 bra        EXPLOOP;

            mov.u32         %r8, 0;
            mov.u64         %rd4, %rd3;
        DIVLOOP:
            ld.global.f32   %f2, [%rd4];
            div.rn.f32      %f2, %f2, %f3;
            st.global.f32   [%rd4], %f2;
            add.s64         %rd4, %rd4, 4;
            add.s32         %r8, %r8, 1;
            setp.lt.u32     %p3, %r8, %r2;
            @%p3 bra        DIVLOOP;
        DONE:
            ret;
        }
        """;
}
