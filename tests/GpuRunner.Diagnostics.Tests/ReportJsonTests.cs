using System.Text.Json;
using GpuRunner.Diagnostics.Report;

namespace GpuRunner.Diagnostics.Tests;

public class ReportJsonTests
{
    [Fact]
    public void SourceGeneratedJsonIsCamelCaseAndKeepsNulls()
    {
        var report = new DeviceReport { Timestamp = new DateTime(2026, 11, 28, 12, 0, 0, DateTimeKind.Utc) };
        report.Gpus.Add(new GpuReport { Index = 0, Name = "NVIDIA H200", PowerDrawW = null, Unsupported = [new("power.draw", "NVML_ERROR_NOT_SUPPORTED")] });
        var json = JsonSerializer.Serialize(report, ReportJsonContext.Default.DeviceReport);
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        Assert.Equal("2026-11-28T12:00:00Z", root.GetProperty("timestamp").GetString());
        var gpu = root.GetProperty("gpus")[0];
        Assert.Equal(JsonValueKind.Null, gpu.GetProperty("powerDrawW").ValueKind);
        Assert.Equal("NVML_ERROR_NOT_SUPPORTED", gpu.GetProperty("unsupported")[0].GetProperty("code").GetString());
        Assert.False(root.TryGetProperty("checks", out _));
        Assert.False(root.TryGetProperty("verdict", out _));
    }
}
