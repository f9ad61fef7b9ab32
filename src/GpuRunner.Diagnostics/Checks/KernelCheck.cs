using GpuRunner.Native.Cuda;

namespace GpuRunner.Diagnostics.Checks;

/// <summary>The shipped PTX vectorAdd is JIT-compiled, launched, and its result verified element by element on the host.</summary>
public sealed class KernelCheck : ICheck
{
    public string Id => "cuda.kernel";
    public string Title => "a PTX kernel runs (vectorAdd)";
    public TimeSpan Deadline => TimeSpan.FromSeconds(30);
    public IReadOnlyList<string> Requires => ["cuda.memory"];

    public CheckOutcome Run(CheckContext context)
    {
        if (!context.Passed("cuda.memory") || context.Context is null) return context.SkipBecause("cuda.memory");
        context.Context.MakeCurrent(); // each check runs on its own thread
        var result = VectorAdd.Run();
        if (!result.Verified)
            return CheckOutcome.Fail($"vectorAdd: {result.Mismatches:N0} of {result.Elements:N0} elements wrong ({result.FirstMismatch})",
                new Diagnosis("kernel-wrong-result", "the GPU returned wrong sums for a trivial kernel: a hardware or driver fault",
                    "run gpurunner smoke (memory test), check dmesg for NVRM Xid errors, and reset or replace the GPU"));
        return CheckOutcome.Pass($"vectorAdd on {result.Elements:N0} floats verified on the host (PTX JIT {result.JitSeconds:0.00} s, kernel {result.KernelMilliseconds:0.###} ms)");
    }
}
