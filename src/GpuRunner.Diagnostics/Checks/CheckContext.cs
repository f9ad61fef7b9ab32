using GpuRunner.Diagnostics.Inventory;
using GpuRunner.Diagnostics.Report;
using GpuRunner.Native.Cuda;
using GpuRunner.Native.Loading;

namespace GpuRunner.Diagnostics.Checks;

/// <summary>What the checks share: options, the report being built, results so far and live driver objects.</summary>
public sealed class CheckContext : IDisposable
{
    private readonly Dictionary<string, CheckResult> _results = [];
    private readonly Lock _gate = new();

    public CheckContext(DeviceReport report, string? expect = null, NativeLoader? loader = null,
        DiagnosticsServices? services = null, Func<string, string?>? getEnv = null)
    {
        Report = report;
        Expect = expect;
        Loader = loader ?? NativeLoader.Default;
        Services = services ?? new DiagnosticsServices(Host.HostProbe.Collect, new NoCatalogue());
        GetEnv = getEnv ?? Environment.GetEnvironmentVariable;
    }

    public DeviceReport Report { get; }
    /// <summary>The flavor given with --expect, if any.</summary>
    public string? Expect { get; }
    public NativeLoader Loader { get; }
    public DiagnosticsServices Services { get; }
    public Func<string, string?> GetEnv { get; }

    /// <summary>CUDA device count once cuda.init passed.</summary>
    public int? CudaDeviceCount { get; set; }
    /// <summary>NVML device count once nvml.init passed.</summary>
    public int? NvmlDeviceCount { get; set; }
    /// <summary>The primary context of device 0 once cuda.memory passed. Contexts are per thread: call MakeCurrent.</summary>
    public CudaContext? Context { get; set; }
    /// <summary>Free-form state for checks added by other parts.</summary>
    public Dictionary<string, object> Items { get; } = [];

    /// <summary>
    /// Whether report.Gpus is the real inventory: NVML answered, or there is no driver at all (then "no GPU" is
    /// a fact). When NVML is present but failed, the GPUs are unknown, which tier matching must not read as none.
    /// </summary>
    public bool GpusKnown => Passed("nvml.init") || !Loader.Nvml.Loaded;

    public void Record(CheckResult result) { lock (_gate) _results[result.Id] = result; }

    public CheckResult? Result(string id) { lock (_gate) return _results.GetValueOrDefault(id); }

    /// <summary>True when check <paramref name="id"/> ran and passed (or warned).</summary>
    public bool Passed(string id) => Result(id) is { Status: CheckStatus.Pass or CheckStatus.Warn };

    /// <summary>A SKIP naming the earlier check this one needed, for a readable chain of causes.</summary>
    public CheckOutcome SkipBecause(string id) =>
        CheckOutcome.Skip(Result(id) is { } r ? $"skipped: {r.Id} did not pass ({r.Status.ToString().ToUpperInvariant()})" : $"skipped: needs {id}");

    public void Dispose() => Context?.Dispose();
}
