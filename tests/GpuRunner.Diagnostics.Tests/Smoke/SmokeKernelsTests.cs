using System.Diagnostics;
using System.Text.RegularExpressions;
using GpuRunner.Diagnostics.Smoke;

namespace GpuRunner.Diagnostics.Tests.Smoke;

public class SmokeKernelsTests
{
    [Fact]
    public void EmbeddedPtxHasEveryKernelForOldAndNewGpus()
    {
        var ptx = SmokeKernels.Ptx;
        Assert.Contains(".target sm_52", ptx);
        var entries = Regex.Matches(ptx, @"\.visible \.entry (\w+)\(").Select(m => m.Groups[1].Value).ToHashSet();
        Assert.Contains(SmokeKernels.Copy, entries);
        Assert.Contains(SmokeKernels.GemmFallback, entries);
        foreach (var p in MemoryPatterns.All)
        {
            Assert.Contains(SmokeKernels.Write(p), entries);
            Assert.Contains(SmokeKernels.Verify(p), entries);
        }
    }

    [Fact]
    public void BandwidthKernelsUse16ByteAccesses()
    {
        // The copy: one 16-byte load and store per thread, launched on a grid that covers the buffer.
        var copy = Body(SmokeKernels.Copy);
        Assert.Equal(1, Regex.Count(copy, @"ld\.global\.nc\.v2\.u64"));
        Assert.Equal(1, Regex.Count(copy, @"st\.global\.v2\.u64"));
        Assert.DoesNotContain("ld.global.u64", copy);
        foreach (var p in MemoryPatterns.All)
        {
            Assert.Contains("st.global.v2.u64", Body(SmokeKernels.Write(p)));
            var verify = Body(SmokeKernels.Verify(p));
            // The verifiers keep four loads in flight: 4 unrolled + 1 remainder.
            Assert.Equal(5, Regex.Count(verify, @"ld\.global(\.nc)?\.v2\.u64"));
            Assert.Contains("atom.global.add.u64", verify); // the error counter
        }
    }

    [SkippableFact]
    public void CommittedPtxIsRegeneratedFromTheSource()
    {
        Skip.If(!File.Exists("/usr/bin/clang-14"), "clang-14 not installed (apt-get install clang-14): cannot regenerate the PTX");
        var dir = Path.Combine(RepoRoot(), "src/GpuRunner.Diagnostics/Smoke/Kernels");
        var output = Path.Combine(Path.GetTempPath(), $"smoke-{Guid.NewGuid():N}.ptx");
        using var p = Process.Start(new ProcessStartInfo("bash", [Path.Combine(dir, "gen-ptx.sh"), output]) { RedirectStandardError = true })!;
        Assert.True(p.WaitForExit(60_000), "gen-ptx.sh timed out");
        Assert.True(p.ExitCode == 0, p.StandardError.ReadToEnd());
        try { Assert.True(File.ReadAllText(output) == SmokeKernels.Ptx, "smoke_kernels.ptx is stale: run Kernels/gen-ptx.sh and commit it"); }
        finally { File.Delete(output); }
    }

    private static string Body(string entry)
    {
        var ptx = SmokeKernels.Ptx;
        var start = ptx.IndexOf($".entry {entry}(", StringComparison.Ordinal);
        Assert.True(start >= 0, entry);
        var end = ptx.IndexOf(".entry ", start + 8, StringComparison.Ordinal);
        return end < 0 ? ptx[start..] : ptx[start..end];
    }

    private static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "GpuRunner.sln"))) return d.FullName;
        throw new InvalidOperationException("GpuRunner.sln not found above the test binaries");
    }
}
