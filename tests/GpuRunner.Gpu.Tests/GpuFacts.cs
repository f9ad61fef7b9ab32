using System.Diagnostics;
using System.Text.Json;
using GpuRunner.Diagnostics.Inventory;
using GpuRunner.Diagnostics.Report;
using GpuRunner.Native.Loading;

namespace GpuRunner.Gpu.Tests;

/// <summary>Whether a real NVIDIA GPU is here, and helpers that run gpurunner and nvidia-smi.</summary>
internal static class GpuFacts
{
    /// <summary>Null when a GPU is usable here; otherwise why these tests skip.</summary>
    public static readonly string? NoGpuReason = Probe();

    private static string? Probe()
    {
        // A private loader with only the real locations: an override pointing at test fakes must not count.
        var loader = new NativeLoader(getEnv: _ => null);
        if (!loader.Nvml.Loaded) return $"no NVIDIA GPU: libnvidia-ml.so.1 does not load ({loader.Nvml.Trace.Count} places tried)";
        return Run("nvidia-smi", "-L").Code == 0 ? null : "libnvidia-ml loads but nvidia-smi -L fails or is absent";
    }

    public static (int Code, string StdOut, string StdErr) Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var k in new[] { "GPURUNNER_NVML_PATH", "GPURUNNER_CUDA_PATH" }) psi.Environment.Remove(k);
        try
        {
            using var p = Process.Start(psi)!;
            var o = p.StandardOutput.ReadToEndAsync();
            var e = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(TimeSpan.FromSeconds(120))) { p.Kill(true); return (-1, "", "timed out"); }
            return (p.ExitCode, o.Result, e.Result);
        }
        catch (System.ComponentModel.Win32Exception e) { return (-1, "", e.Message); }
    }

    /// <summary>
    /// Runs gpurunner: the binary named by GPURUNNER_BIN (on the GPU machine, the shipped NativeAOT publish that
    /// bench/gpu/run-all.sh points it at), else the gpurunner.dll built beside these tests under `dotnet`.
    /// </summary>
    public static (int Code, string StdOut, string StdErr) Gpurunner(params string[] args)
    {
        var bin = Environment.GetEnvironmentVariable("GPURUNNER_BIN");
        if (!string.IsNullOrEmpty(bin))
        {
            Assert.True(File.Exists(bin), $"GPURUNNER_BIN={bin} does not exist");
            return Run(bin, args);
        }
        var dll = Path.Combine(AppContext.BaseDirectory, "gpurunner.dll");
        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";
        var result = Run(dotnet, [dll, .. args]);
        // A self-contained publish has no `dotnet` to host the dll: say how to point at a gpurunner binary instead.
        Assert.False(result.Code == -1 && result.StdErr != "timed out", $"cannot run `{dotnet} {dll}` ({result.StdErr}): set GPURUNNER_BIN to a gpurunner binary");
        return result;
    }

    /// <summary>The fields of `detect --json` that nvidia-smi also prints.</summary>
    public static DeviceReport ReadDetect(string json)
    {
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        var driver = root.GetProperty("driver");
        return new DeviceReport
        {
            Driver = new DriverReport
            {
                DriverVersion = driver.GetProperty("driverVersion").GetString(),
                CudaDriverVersion = driver.GetProperty("cudaDriverVersion").GetString(),
            },
            Gpus = root.GetProperty("gpus").EnumerateArray().Select(g => new GpuReport
            {
                Index = g.GetProperty("index").GetInt32(),
                Name = g.GetProperty("name").GetString(),
                Uuid = g.GetProperty("uuid").GetString(),
                PciBusId = g.GetProperty("pciBusId").GetString(),
                MemoryTotalMiB = g.GetProperty("memoryTotalMiB").GetInt64(),
                ComputeCapability = g.GetProperty("computeCapability").GetString(),
            }).ToList(),
        };
    }
}
