using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace GpuRunner.Diagnostics.Tests.Inventory;

/// <summary>
/// The four H200 fixtures (Fixtures/h200) must come from one run (`bash bench/gpu/run-all.sh proof`): detect.json and
/// verify.json describe the same card at the same moment as nvidia-smi-q.txt, memory included. A fixture refreshed on
/// its own, or one older than the code that reads it, fails here.
/// </summary>
public class H200FixtureConsistencyTests
{
    private static string Fixture(string name, [CallerFilePath] string here = "") =>
        Path.Combine(Path.GetDirectoryName(here)!, "..", "Fixtures", "h200", name);

    private static JsonElement Load(string name) => JsonDocument.Parse(File.ReadAllText(Fixture(name))).RootElement;

    [Fact]
    public void DetectAndVerifyDescribeTheSameCardInTheSameRun()
    {
        var detect = Load("detect.json");
        var verify = Load("verify.json");
        foreach (var field in new[] { "driverVersion", "cudaDriverVersion", "nvmlLibrary" })
            Assert.Equal(detect.GetProperty("driver").GetProperty(field).GetString(), verify.GetProperty("driver").GetProperty(field).GetString());
        var dg = detect.GetProperty("gpus").EnumerateArray().ToList();
        var vg = verify.GetProperty("gpus").EnumerateArray().ToList();
        Assert.Equal(dg.Count, vg.Count);
        foreach (var (d, v) in dg.Zip(vg))
            foreach (var field in new[] { "name", "uuid", "pciBusId", "computeCapability" })
                Assert.Equal(d.GetProperty(field).GetString(), v.GetProperty(field).GetString());
        // One run: the two reports were written minutes apart at most, not on different leases.
        var apart = detect.GetProperty("timestamp").GetDateTimeOffset() - verify.GetProperty("timestamp").GetDateTimeOffset();
        Assert.InRange(Math.Abs(apart.TotalMinutes), 0, 10);
        Assert.Equal("PASS", verify.GetProperty("verdict").GetString());
    }

    [Fact]
    public void DetectMemoryAgreesWithNvidiaSmiAndAddsUpToTheTotal()
    {
        var gpu = Load("detect.json").GetProperty("gpus")[0];
        Assert.True(gpu.TryGetProperty("memoryReservedMiB", out _),
            "H200 fixture detect.json predates NVML v2 memory (no memoryReservedMiB): refresh Fixtures/h200 from `bash bench/gpu/run-all.sh proof` (fixtures-h200.tgz)");
        var fb = Regex.Match(File.ReadAllText(Fixture("nvidia-smi-q.txt")),
            @"FB Memory Usage\s+Total\s*:\s*(\d+) MiB\s+Reserved\s*:\s*(\d+) MiB\s+Used\s*:\s*(\d+) MiB\s+Free\s*:\s*(\d+) MiB");
        Assert.True(fb.Success, "no FB Memory Usage block in nvidia-smi-q.txt");
        long Smi(int group) => long.Parse(fb.Groups[group].Value);
        long Ours(string field) => gpu.GetProperty(field).GetInt64();

        Assert.Equal(Smi(1), Ours("memoryTotalMiB"));
        // Same card, seconds apart, nothing running: the same split, give or take the MiB rounding and a driver's blip.
        Assert.InRange(Ours("memoryReservedMiB"), Smi(2) - 2, Smi(2) + 2);
        Assert.InRange(Ours("memoryUsedMiB"), Smi(3) - 64, Smi(3) + 64);
        Assert.InRange(Ours("memoryFreeMiB"), Smi(4) - 64, Smi(4) + 64);
        Assert.InRange(Ours("memoryUsedMiB") + Ours("memoryReservedMiB") + Ours("memoryFreeMiB"), Ours("memoryTotalMiB") - 2, Ours("memoryTotalMiB") + 2);
    }
}
