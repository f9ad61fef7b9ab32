using System.Diagnostics;
using TorchSharp;

namespace GpuRunner.Diagnostics.Frameworks;

/// <summary>What TorchSharp reports once its libtorch is loaded.</summary>
public sealed record TorchSharpFacts(string TorchSharpVersion, bool CudaAvailable, int DeviceCount, bool CudnnAvailable,
    double? MatmulMaxRelDiff, double? Seconds, string? Error);

/// <summary>
/// The only place (with TorchSharpEngine) that touches TorchSharp types: call it after <see cref="TorchSharpLoader"/>
/// succeeded, else TorchSharp's static constructor throws its misleading "not restored" error.
/// </summary>
public static class TorchSharpProbe
{
    public static string TorchSharpVersion => typeof(torch).Assembly.GetName().Version?.ToString(3) ?? "?";

    public static TorchSharpFacts Probe(int size = 512)
    {
        var sw = Stopwatch.StartNew();
        try
        {
            torch.InitializeDeviceType(DeviceType.CUDA);
        }
        catch (Exception) { /* CPU-only libtorch: is_available() below reports false */ }
        var available = torch.cuda.is_available();
        var count = available ? torch.cuda.device_count() : 0;
        var cudnn = available && torch.cuda.is_cudnn_available();
        if (!available) return new(TorchSharpVersion, false, 0, false, null, sw.Elapsed.TotalSeconds, null);
        try
        {
            // The document's .to("cuda") and one real kernel, checked against the CPU: TF32 off, so FP32 vs FP32.
            torch.backends.cuda.matmul.allow_tf32 = false;
            torch.random.manual_seed(1234);
            using var a = torch.randn(size, size);
            using var b = torch.randn(size, size);
            using var cpu = torch.matmul(a, b);
            using var ag = a.to(DeviceType.CUDA);
            using var bg = b.to(DeviceType.CUDA);
            using var g = torch.matmul(ag, bg);
            using var back = g.cpu();
            using var diff = (back - cpu).abs();
            using var scale = cpu.abs().max();
            var rel = diff.max().item<float>() / Math.Max(scale.item<float>(), 1e-30f);
            return new(TorchSharpVersion, true, count, cudnn, rel, sw.Elapsed.TotalSeconds, null);
        }
        catch (Exception e)
        {
            return new(TorchSharpVersion, true, count, cudnn, null, sw.Elapsed.TotalSeconds, e.Message.Split('\n')[0]);
        }
    }
}
