using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json;
using GpuRunner.Core.Api;
using GpuRunner.Core.Services;
using GpuRunner.Lifecycle;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace GpuRunner.Core.Metrics;

/// <summary>The latest readings of one GPU of one Space, from its newest heartbeat.</summary>
public sealed record GpuReading(long AtMs, int Gpu, double? Util, double? MemUtil, double? MemUsedMiB, double? TempC, double? PowerW,
    double? SmClockMHz, double? Throttle, double? ProcessMemoryMiB);

/// <summary>
/// The fleet's GPU telemetry as this core instance received it: the latest readings per Space and GPU (gauges, like
/// dcgm-exporter's), ECC error counts and GPU events by class and code (counters). Kept in memory and fed at
/// ingest, so a scrape or the fleet page costs no query; after a restart the gauges fill again with the next
/// heartbeats (counters restart at 0, which Prometheus handles). Cardinality is bounded: only Spaces heard from
/// within <see cref="StaleAfter"/>, at most <see cref="MaxSpaces"/> of them, GPU index 0..63; the event counter's
/// labels are the class (4 values) and the Xid number (at most 1000) or the kind (10 values).
/// </summary>
public sealed class GpuTelemetry(TimeProvider clock)
{
    public const int MaxSpaces = 5000;
    public static readonly TimeSpan StaleAfter = TimeSpan.FromMinutes(5);

    private readonly ConcurrentDictionary<string, Dictionary<int, GpuReading>> _latest = new();
    private readonly ConcurrentDictionary<(string Space, int Gpu, string Type), Box> _ecc = new();
    private readonly ConcurrentDictionary<(string Class, string Code), Box> _events = new();
    private long _dropped;

    public static GpuTelemetry Of(HttpContext ctx) => ctx.RequestServices.GetRequiredService<GpuTelemetry>();

    /// <summary>Notes an accepted runner event (duplicates are not counted twice).</summary>
    public void Observe(string spaceId, RunnerInput input, Ack ack)
    {
        if (ack.Duplicate) return;
        if (input.Event is GpuReported g)
        {
            var code = g.Note.Kind == "xid" && g.Note.Code is { } x ? x.ToString(CultureInfo.InvariantCulture) : g.Note.Kind;
            Interlocked.Increment(ref _events.GetOrAdd((g.Note.Class, code), _ => new Box()).Value);
            return;
        }
        if (input.Event is not null || input.Payload is null) return;
        if (!_latest.ContainsKey(spaceId) && _latest.Count >= MaxSpaces && Prune() >= MaxSpaces)
        {
            Interlocked.Increment(ref _dropped);
            return;
        }
        using var doc = JsonDocument.Parse(input.Payload);
        var readings = new Dictionary<int, GpuReading>();
        foreach (var gpu in doc.RootElement.EnumerateArray())
        {
            if (gpu.ValueKind != JsonValueKind.Object || GpuEvents.Reading(gpu, "index") is not { } i || i < 0 || i > GpuEvents.MaxGpu) continue;
            var index = (int)i;
            readings[index] = new GpuReading(input.AtMs, index, GpuEvents.Reading(gpu, "utilizationPct"), GpuEvents.Reading(gpu, "memUtilPct"),
                GpuEvents.Reading(gpu, "memoryUsedMiB"), GpuEvents.Reading(gpu, "temperatureC"), GpuEvents.Reading(gpu, "powerW"),
                GpuEvents.Reading(gpu, "smClockMHz"), GpuEvents.Reading(gpu, "throttle"), GpuEvents.Reading(gpu, "processMemoryMiB"));
            foreach (var (field, type) in new[] { ("eccCorrected", "corrected"), ("eccUncorrected", "uncorrected") })
                if (GpuEvents.Reading(gpu, field) is { } n && n > 0)
                    Interlocked.Add(ref _ecc.GetOrAdd((spaceId, index, type), _ => new Box()).Value, (long)n);
        }
        // Heartbeats may arrive out of order (the outbox): keep the newest. A reading that stops answering (e.g. every
        // reading of a GPU that fell off the bus) keeps its last value until the Space goes quiet.
        _latest.AddOrUpdate(spaceId, readings, (_, old) =>
        {
            if (old.Values.FirstOrDefault()?.AtMs > input.AtMs) return old;
            foreach (var (gpu, r) in old)
                readings[gpu] = readings.TryGetValue(gpu, out var now) ? Merge(now, r) : r with { AtMs = input.AtMs };
            return readings;
        });
    }

    private static GpuReading Merge(GpuReading now, GpuReading before) => now with
    {
        Util = now.Util ?? before.Util, MemUtil = now.MemUtil ?? before.MemUtil, MemUsedMiB = now.MemUsedMiB ?? before.MemUsedMiB,
        TempC = now.TempC ?? before.TempC, PowerW = now.PowerW ?? before.PowerW, SmClockMHz = now.SmClockMHz ?? before.SmClockMHz,
        Throttle = now.Throttle ?? before.Throttle, ProcessMemoryMiB = now.ProcessMemoryMiB ?? before.ProcessMemoryMiB,
    };

    /// <summary>The latest readings of a Space heard from recently, by GPU index; empty when none.</summary>
    public IReadOnlyList<GpuReading> Latest(string spaceId) =>
        _latest.TryGetValue(spaceId, out var r) && !Stale(r) ? r.Values.OrderBy(x => x.Gpu).ToArray() : [];

    public long EventCount(string cls, string code) => _events.TryGetValue((cls, code), out var b) ? Interlocked.Read(ref b.Value) : 0;

    private bool Stale(Dictionary<int, GpuReading> r) =>
        r.Values.FirstOrDefault() is not { } x || clock.GetUtcNow().ToUnixTimeMilliseconds() - x.AtMs > (long)StaleAfter.TotalMilliseconds;

    private int Prune()
    {
        foreach (var (id, r) in _latest)
            if (Stale(r)) _latest.TryRemove(id, out _);
        return _latest.Count;
    }

    // dcgm-exporter's names where the meaning is the same (https://github.com/NVIDIA/dcgm-exporter, default-counters.csv).
    private static readonly (string Name, string Help, Func<GpuReading, double?> Value)[] Gauges =
    [
        ("DCGM_FI_DEV_GPU_UTIL", "GPU utilisation (%), NVML's 'gpu' utilisation rate.", r => r.Util),
        ("DCGM_FI_DEV_MEM_COPY_UTIL", "Memory utilisation (%), NVML's 'memory' utilisation rate.", r => r.MemUtil),
        ("DCGM_FI_DEV_FB_USED", "Frame buffer memory used (MiB).", r => r.MemUsedMiB),
        ("DCGM_FI_DEV_GPU_TEMP", "GPU temperature (C).", r => r.TempC),
        ("DCGM_FI_DEV_POWER_USAGE", "Power draw (W).", r => r.PowerW),
        ("DCGM_FI_DEV_SM_CLOCK", "SM clock (MHz).", r => r.SmClockMHz),
        ("DCGM_FI_DEV_CLOCK_THROTTLE_REASONS", "Clock event (throttle) reasons, nvmlClocksEventReason bits.", r => r.Throttle),
        ("gpurunner_gpu_process_memory_mib", "GPU memory held by the app's own processes (MiB), where per-process accounting sees them.", r => r.ProcessMemoryMiB),
    ];

    private sealed class Box { public long Value; }

    /// <summary>Appends the GPU series to a /metrics response.</summary>
    public void Write(StringBuilder sb)
    {
        var inv = CultureInfo.InvariantCulture;
        var live = _latest.Where(p => !Stale(p.Value)).OrderBy(p => p.Key, StringComparer.Ordinal).ToArray();
        foreach (var (name, help, value) in Gauges)
        {
            CoreMetrics.Help(sb, name, "gauge", help + " Latest heartbeat per Space and GPU.");
            foreach (var (space, readings) in live)
                foreach (var r in readings.Values.OrderBy(x => x.Gpu))
                    if (value(r) is { } v)
                        sb.Append(inv, $"{name}{{space=\"{CoreMetrics.Label(space)}\",gpu=\"{r.Gpu}\"}} {v.ToString("R", inv)}\n");
        }
        CoreMetrics.Help(sb, "gpurunner_gpu_ecc_errors_total", "counter", "ECC errors reported in heartbeats (sums of the runner's deltas), by type.");
        foreach (var ((space, gpu, type), box) in _ecc.OrderBy(p => p.Key.Space, StringComparer.Ordinal).ThenBy(p => p.Key.Gpu))
            sb.Append(inv, $"gpurunner_gpu_ecc_errors_total{{space=\"{CoreMetrics.Label(space)}\",gpu=\"{gpu}\",type=\"{type}\"}} {Interlocked.Read(ref box.Value)}\n");
        CoreMetrics.Help(sb, "gpurunner_gpu_events_total", "counter", "GPU events from the runners' watch, by class (user, hardware, driver, info) and code (the Xid, else the kind).");
        foreach (var ((cls, code), box) in _events.OrderBy(p => p.Key.Class, StringComparer.Ordinal).ThenBy(p => p.Key.Code, StringComparer.Ordinal))
            sb.Append(inv, $"gpurunner_gpu_events_total{{class=\"{cls}\",code=\"{CoreMetrics.Label(code)}\"}} {Interlocked.Read(ref box.Value)}\n");
        CoreMetrics.Help(sb, "gpurunner_gpu_series_dropped_total", "counter", $"Heartbeats not kept for the GPU gauges because {MaxSpaces} Spaces already had series.");
        sb.Append(inv, $"gpurunner_gpu_series_dropped_total {Interlocked.Read(ref _dropped)}\n");
    }
}
