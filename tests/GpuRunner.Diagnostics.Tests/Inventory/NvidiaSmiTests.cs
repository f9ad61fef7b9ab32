using System.Runtime.CompilerServices;
using System.Text.Json;
using GpuRunner.Diagnostics.Inventory;
using GpuRunner.Diagnostics.Report;

namespace GpuRunner.Diagnostics.Tests.Inventory;

public class NvidiaSmiTests
{
    private static string Fixture(string name, [CallerFilePath] string here = "") =>
        Path.Combine(Path.GetDirectoryName(here)!, "..", "Fixtures", name);

    [Fact]
    public void ParsesTheRealH200QueryOutput()
    {
        var smi = NvidiaSmi.ParseQ(File.ReadAllText(Fixture("h200/nvidia-smi-q.txt")));
        Assert.Equal("580.159.04", smi.DriverVersion);
        Assert.Equal("13.0", smi.CudaVersion);
        var gpu = Assert.Single(smi.Gpus);
        Assert.Equal("NVIDIA H200", gpu.Name);
        // The UUID changes with the machine a refresh ran on: it must be well formed and the CSV's of the same run.
        Assert.Matches("^GPU-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", gpu.Uuid);
        Assert.Equal(NvidiaSmi.ParseQueryCsv(File.ReadAllText(Fixture("h200/query-gpu.csv"))).Gpus[0].Uuid, gpu.Uuid);
        Assert.Equal("00000000:00:06.0", gpu.PciBusId);
        Assert.Equal(143771, gpu.MemoryTotalMiB); // FB memory, not BAR1 (262144) or CC protected (0)
    }

    [Fact]
    public void ParsesTheQueryCsv()
    {
        var smi = NvidiaSmi.ParseQueryCsv(File.ReadAllText(Fixture("h200/query-gpu.csv")));
        var gpu = Assert.Single(smi.Gpus);
        Assert.Equal(("NVIDIA H200", 143771L, "9.0"), (gpu.Name, gpu.MemoryTotalMiB, gpu.ComputeCapability));
        Assert.Equal("580.159.04", smi.DriverVersion);
        Assert.Throws<FormatException>(() => NvidiaSmi.ParseQueryCsv("NVIDIA T4, 15360 MiB"));
    }

    private static DeviceReport DetectLike(string name, string uuid, string bus, long mib, string cc) => new()
    {
        Driver = new DriverReport { DriverVersion = "580.159.04", CudaDriverVersion = "13.0" },
        Gpus = [new GpuReport { Index = 0, Name = name, Uuid = uuid, PciBusId = bus, MemoryTotalMiB = mib, ComputeCapability = cc }],
    };

    [Fact]
    public void EveryDifferingFieldIsNamed()
    {
        var smi = new SmiReport("580.159.04", "13.0", [new SmiGpu("Tesla T4", "GPU-1", "00000000:00:1E.0", 15360, "7.5")]);
        Assert.Empty(NvidiaSmi.Differences(DetectLike("Tesla T4", "GPU-1", "00000000:00:1E.0", 15360, "7.5"), smi));
        var diffs = NvidiaSmi.Differences(DetectLike("NVIDIA A10G", "GPU-1", "00000000:00:1E.0", 23028, "8.6"), smi);
        Assert.Equal(
        [
            "gpu 0 name: detect NVIDIA A10G, nvidia-smi Tesla T4",
            "gpu 0 memoryTotalMiB: detect 23028, nvidia-smi 15360",
            "gpu 0 computeCapability: detect 8.6, nvidia-smi 7.5",
        ], diffs);
    }

    [SkippableFact]
    public void H200DetectFixtureAgreesWithNvidiaSmi()
    {
        var path = Fixture("h200/detect.json");
        Skip.IfNot(File.Exists(path), "no H200 detect.json fixture yet: run bench/gpu/detect-verify.sh on the GPU machine and commit its detect.json, query-gpu.csv and nvidia-smi-q.txt (Fixtures/h200/README.md)");
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var root = doc.RootElement;
        var report = new DeviceReport
        {
            Driver = new DriverReport
            {
                DriverVersion = root.GetProperty("driver").GetProperty("driverVersion").GetString(),
                CudaDriverVersion = root.GetProperty("driver").GetProperty("cudaDriverVersion").GetString(),
            },
            Gpus = root.GetProperty("gpus").EnumerateArray().Select(g => new GpuReport
            {
                Index = g.GetProperty("index").GetInt32(), Name = g.GetProperty("name").GetString(), Uuid = g.GetProperty("uuid").GetString(),
                PciBusId = g.GetProperty("pciBusId").GetString(), MemoryTotalMiB = g.GetProperty("memoryTotalMiB").GetInt64(),
                ComputeCapability = g.GetProperty("computeCapability").GetString(),
            }).ToList(),
        };
        Assert.Empty(NvidiaSmi.Differences(report, NvidiaSmi.ParseQ(File.ReadAllText(Fixture("h200/nvidia-smi-q.txt")))));
        Assert.Empty(NvidiaSmi.Differences(report, NvidiaSmi.ParseQueryCsv(File.ReadAllText(Fixture("h200/query-gpu.csv")))));
    }
}
