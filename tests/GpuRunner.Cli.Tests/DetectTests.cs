using System.Text.Json;
using GpuRunner.Tests.Fakes;

namespace GpuRunner.Cli.Tests;

public class DetectTests
{
    private static readonly Dictionary<string, string?> FakeA10G = new()
    {
        ["GPURUNNER_NVML_PATH"] = FakeDrivers.Folder,
        ["GPURUNNER_CUDA_PATH"] = FakeDrivers.Folder,
    };

    [Fact]
    public void JsonFollowsTheContract()
    {
        var r = GpuRunnerProcess.Run(FakeA10G, "detect", "--json");
        Assert.Equal(0, r.Code);
        using var doc = JsonDocument.Parse(r.StdOut);
        var root = doc.RootElement;
        Assert.Equal("gpurunner.report/1", root.GetProperty("schema").GetString());
        Assert.EndsWith("Z", root.GetProperty("timestamp").GetString());
        var driver = root.GetProperty("driver");
        Assert.True(driver.GetProperty("loaded").GetBoolean());
        Assert.Equal("580.159.04", driver.GetProperty("driverVersion").GetString());
        Assert.Equal("13.0", driver.GetProperty("cudaDriverVersion").GetString());
        Assert.Equal(Path.Combine(FakeDrivers.Folder, "libnvidia-ml.so.1"), driver.GetProperty("nvmlLibrary").GetString());
        var gpu = Assert.Single(root.GetProperty("gpus").EnumerateArray());
        Assert.Equal("NVIDIA A10G", gpu.GetProperty("name").GetString());
        Assert.Equal(23028, gpu.GetProperty("memoryTotalMiB").GetInt64());
        Assert.Equal("8.6", gpu.GetProperty("computeCapability").GetString());
        Assert.Equal("00000000:1E:00.0", gpu.GetProperty("pciBusId").GetString());
        Assert.Equal("GPU-0badf00d-0000-4000-8000-000000000000", gpu.GetProperty("uuid").GetString());
        Assert.Equal(18.25, gpu.GetProperty("powerDrawW").GetDouble()); // 18250 mW
        Assert.Equal(16, gpu.GetProperty("pcie").GetProperty("widthMax").GetInt32());
        // The fake lacks nvmlDeviceGetCurrentClocksEventReasons (an older driver): the Throttle fallback answers.
        Assert.Equal("gpu_idle", Assert.Single(gpu.GetProperty("throttleReasons").EnumerateArray()).GetString());
        Assert.Empty(gpu.GetProperty("unsupported").EnumerateArray());
        Assert.False(root.TryGetProperty("checks", out _)); // detect runs no checks
        Assert.True(root.GetProperty("host").GetProperty("vcpu").GetInt32() > 0);
    }

    [Fact]
    public void TwoGpusAreListedInOrder()
    {
        var env = new Dictionary<string, string?>(FakeA10G) { ["FAKE_GPU_COUNT"] = "2" };
        var r = GpuRunnerProcess.Run(env, "detect", "--json");
        using var doc = JsonDocument.Parse(r.StdOut);
        var gpus = doc.RootElement.GetProperty("gpus").EnumerateArray().ToList();
        Assert.Equal([0, 1], gpus.Select(g => g.GetProperty("index").GetInt32()));
        Assert.NotEqual(gpus[0].GetProperty("uuid").GetString(), gpus[1].GetProperty("uuid").GetString());
    }
}
