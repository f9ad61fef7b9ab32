using System.Diagnostics;
using System.Runtime;
using System.Runtime.CompilerServices;
using System.Text.Json.Serialization;
using GpuRunner.Diagnostics.Frameworks;
using GpuRunner.Native;
using GpuRunner.Native.Cuda;

namespace GpuRunner.Diagnostics.Models;

/// <summary>What `gpurunner run` does, with which model (options already validated).</summary>
public sealed record RunSettings
{
    public string Engine { get; init; } = "ort";
    public string Device { get; init; } = "cpu";
    public int Iterations { get; init; } = 100;
    public int Warmup { get; init; } = 10;
    public int Batch { get; init; } = 8;
    /// <summary>
    /// After the warm-up iterations, keep warming up until the .NET JIT has stopped compiling (see
    /// <see cref="ModelRunner.SettleJit"/>); `gpurunner run` sets it, the quick verify check does not.
    /// </summary>
    public bool SettleJit { get; init; }
    public LibTorchOptions LibTorch { get; init; } = new();
}

public sealed record LatencyStats(double P50Ms, double P95Ms, double P99Ms, double MeanMs, double MinMs, double MaxMs)
{
    /// <summary>Nearest-rank percentiles over the measured iterations.</summary>
    public static LatencyStats From(IReadOnlyList<double> ms)
    {
        if (ms.Count == 0) return new(0, 0, 0, 0, 0, 0);
        var s = ms.Order().ToArray();
        double P(double p) => s[Math.Clamp((int)Math.Ceiling(p / 100 * s.Length) - 1, 0, s.Length - 1)];
        return new(P(50), P(95), P(99), s.Average(), s[0], s[^1]);
    }
}

public sealed record ComparisonReport(string Reference, double MaxAbsDiff, double MaxRelDiff, int Mismatches, int Elements,
    double ToleranceAbs, double ToleranceRel, bool Within);

public sealed record RunReport
{
    public string Schema { get; init; } = "gpurunner.run/1";
    public string Model { get; init; } = "";
    public string ModelPath { get; init; } = "";
    public string Engine { get; init; } = "";
    public string Device { get; init; } = "";
    public string Detail { get; init; } = "";
    public int Batch { get; init; }
    public int Warmup { get; init; }
    /// <summary>Warm-up iterations run after <see cref="Warmup"/> until the JIT settled (0: not asked, or NativeAOT).</summary>
    public int JitWarmup { get; init; }
    public double JitWarmupSeconds { get; init; }
    /// <summary>Methods the JIT compiled while the timed loop ran (0 when it timed steady-state code; 0 under NativeAOT).</summary>
    public long JitCompiledDuringLoop { get; init; }
    public int Iterations { get; init; }
    public double LoadSeconds { get; init; }
    public LatencyStats Latency { get; init; } = LatencyStats.From([]);
    public double ThroughputSamplesPerSecond { get; init; }
    public long? DeviceMemoryBytes { get; init; }
    /// <summary>How the device memory was measured (cuMemGetInfo delta, or the engine's own tensors).</summary>
    public string? DeviceMemorySource { get; init; }
    public ComparisonReport Comparison { get; init; } = null!;
    public string Verdict { get; init; } = "FAIL";
}

/// <summary>Loads a model onto a device with one engine, warms up, times N iterations and compares with the reference.</summary>
public static class ModelRunner
{
    public static IInferenceEngine CreateEngine(ModelManifest model, RunSettings settings) => settings.Engine switch
    {
        "ort" => OrtEngine.Create(model, settings.Device),
        "torch" => TorchSharpEngine.Create(model, settings.Device, settings.LibTorch),
        "native" => NativeEngine.Create(model),
        _ => throw new ArgumentOutOfRangeException(nameof(settings), settings.Engine, "unknown engine"),
    };

    /// <param name="progress">Called after each warm-up and timed iteration with (done, total).</param>
    public static RunReport Run(ModelManifest model, RunSettings settings, Action<int, int>? progress = null, CancellationToken ct = default)
    {
        using var memory = settings.Device == "cuda" ? DeviceMemoryMeter.TryStart() : null;
        var load = Stopwatch.StartNew();
        using var engine = CreateEngine(model, settings);
        load.Stop();

        var (input, expected) = ManagedReference.TiledTestData(model, settings.Batch);
        using var bound = engine.Bind(input, settings.Batch);
        var total = settings.Warmup + settings.Iterations;
        for (var i = 0; i < settings.Warmup; i++)
        {
            ct.ThrowIfCancellationRequested();
            bound.Run();
            progress?.Invoke(i + 1, total);
        }
        var settle = Stopwatch.StartNew();
        var jitWarmup = settings.SettleJit ? SettleJit(bound, ct) : 0;
        settle.Stop();
        if (settings.SettleJit)
        {
            // Start the timed loop with an empty young generation and no finalizer left to run beside it
            // (bench/frameworks' Python peers call gc.collect() at the same point).
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
        }
        var latencies = new double[settings.Iterations];
        var (elapsed, compiled) = TimedLoop(bound, latencies, settings.Warmup, total, progress, ct);
        if (total == 0) bound.Run(); // something to compare
        var output = bound.Output;
        var used = memory?.UsedSinceStart();
        var cmp = OutputComparison.Compare(output, expected, model.Tolerance);
        return new RunReport
        {
            Model = model.Name,
            ModelPath = model.PathOf(model.Onnx),
            Engine = engine.Engine,
            Device = engine.Device,
            Detail = engine.Detail,
            Batch = settings.Batch,
            Warmup = settings.Warmup,
            JitWarmup = jitWarmup,
            JitWarmupSeconds = jitWarmup == 0 ? 0 : settle.Elapsed.TotalSeconds,
            JitCompiledDuringLoop = compiled,
            Iterations = settings.Iterations,
            LoadSeconds = load.Elapsed.TotalSeconds,
            Latency = LatencyStats.From(latencies),
            ThroughputSamplesPerSecond = settings.Iterations == 0 ? 0 : settings.Batch * settings.Iterations / elapsed.TotalSeconds,
            DeviceMemoryBytes = used ?? engine.DeviceMemoryBytes,
            DeviceMemorySource = used is not null ? "cuMemGetInfo: free memory before loading minus after the run"
                : engine.DeviceMemoryBytes is not null ? "the engine's own device buffers" : null,
            Comparison = new ComparisonReport($"{model.ExpectedOutput} (float64 CPU reference), tiled to batch {settings.Batch}",
                cmp.MaxAbsDiff, cmp.MaxRelDiff, cmp.Mismatches, cmp.Count, cmp.Tolerance.Abs, cmp.Tolerance.Rel, cmp.Within),
            Verdict = cmp.Within ? "PASS" : "FAIL",
        };
    }
    /// <summary>
    /// The timed iterations. Compiled fully optimised from the start, so the loop itself never runs as tier-0 code
    /// or switches to an OSR copy half-way, and it adds no allocation of its own. Also counts the methods the JIT
    /// compiled meanwhile (anywhere in the process), the proof that the warm-up reached steady state.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static (TimeSpan Elapsed, long JitCompiled) TimedLoop(IBoundBatch bound, double[] latencies, int done, int total,
        Action<int, int>? progress, CancellationToken ct)
    {
        var compiled = JitInfo.GetCompiledMethodCount();
        var start = Stopwatch.GetTimestamp();
        for (var i = 0; i < latencies.Length; i++)
        {
            ct.ThrowIfCancellationRequested();
            var t = Stopwatch.GetTimestamp();
            bound.Run();
            latencies[i] = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
            progress?.Invoke(done + i + 1, total);
        }
        var elapsed = Stopwatch.GetElapsedTime(start);
        return (elapsed, JitInfo.GetCompiledMethodCount() - compiled);
    }

    /// <summary>Longest extra warm-up <see cref="SettleJit"/> spends before it gives up waiting.</summary>
    public static readonly TimeSpan SettleCap = TimeSpan.FromSeconds(5);
    /// <summary>How long no method may have been compiled for the JIT to count as settled.</summary>
    public static readonly TimeSpan SettleQuiet = TimeSpan.FromMilliseconds(400);

    /// <summary>
    /// The JIT build compiles hot methods again in the background (tier 0, then instrumented, then optimised tier 1)
    /// only after ~100 ms of calls and 30 calls each, so a warm-up of a few dozen fast iterations ends long before the
    /// engine's managed path (ORT's and TorchSharp's wrappers, ours) is optimised: the timed loop would measure tier-0
    /// code and the recompilations themselves. Keeps running the batch until no method was compiled for
    /// <see cref="SettleQuiet"/> (at most <see cref="SettleCap"/>); returns the extra iterations. Python has no such
    /// phase (CPython 3.12 has no JIT); NativeAOT has nothing to compile and returns 0 at once.
    /// </summary>
    public static int SettleJit(IBoundBatch bound, CancellationToken ct = default)
    {
        if (!RuntimeFeature.IsDynamicCodeSupported) return 0;
        var clock = Stopwatch.StartNew();
        var compiled = JitInfo.GetCompiledMethodCount();
        var lastChange = TimeSpan.Zero;
        var n = 0;
        while (clock.Elapsed - lastChange < SettleQuiet && clock.Elapsed < SettleCap)
        {
            ct.ThrowIfCancellationRequested();
            bound.Run();
            n++;
            var now = JitInfo.GetCompiledMethodCount();
            if (now != compiled) (compiled, lastChange) = (now, clock.Elapsed);
        }
        return n;
    }
}


/// <summary>
/// Device-wide free memory (cuMemGetInfo) before loading and after the run. It holds the primary context (which every
/// engine shares) for the whole run, so the context's own overhead is in neither figure and it is created only once.
/// </summary>
internal sealed class DeviceMemoryMeter : IDisposable
{
    private readonly CudaContext _context;
    private readonly ulong _freeAtStart;
    private DeviceMemoryMeter(CudaContext context) { _context = context; _freeAtStart = context.MemoryInfo().FreeBytes; }

    public static DeviceMemoryMeter? TryStart()
    {
        try
        {
            CudaDriver.Init();
            return new DeviceMemoryMeter(CudaContext.RetainPrimary(0));
        }
        catch (Exception e) when (e is CudaException or DriverLibraryNotFoundException or DriverSymbolMissingException) { return null; }
    }

    public long? UsedSinceStart()
    {
        try
        {
            _context.MakeCurrent();
            var free = _context.MemoryInfo().FreeBytes;
            return free <= _freeAtStart ? (long)(_freeAtStart - free) : 0;
        }
        catch (CudaException) { return null; }
    }

    public void Dispose() => _context.Dispose();
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true,
    NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals)]
[JsonSerializable(typeof(RunReport))]
public sealed partial class RunJsonContext : JsonSerializerContext;
