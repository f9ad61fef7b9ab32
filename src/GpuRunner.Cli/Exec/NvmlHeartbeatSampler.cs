using GpuRunner.Client;
using GpuRunner.Diagnostics.Checks;
using GpuRunner.Native;
using GpuRunner.Native.Nvml;

namespace GpuRunner.Cli.Exec;

/// <summary>
/// Heartbeat readings from NVML per GPU: SM and memory utilisation, memory used, temperature, power, SM clock, clock
/// event reasons, ECC deltas and the app's own GPU memory (each null where the device or driver cannot tell). NVML is opened once for the run. Without a driver library the heartbeats carry no GPU readings
/// (said once). Each sample runs under a deadline, because a wedged GPU can hang NVML: after one timeout the sampler
/// stops asking rather than pile up stuck threads.
/// </summary>
public sealed class NvmlHeartbeatSampler(Action<string> log, TimeSpan? deadline = null) : IHeartbeatSampler, IDisposable
{
    private readonly TimeSpan _deadline = deadline ?? TimeSpan.FromSeconds(5);
    private NvmlSession? _session;
    private bool _opened, _broken;

    public IReadOnlyList<GpuHeartbeat> Sample()
    {
        if (_broken) return [];
        var (completed, value, error) = Worker.Run(SampleNow, _deadline, "heartbeat");
        if (!completed)
        {
            _broken = true;
            log($"NVML did not answer within {_deadline.TotalSeconds:0} s; heartbeats go on without GPU readings");
            return [];
        }
        if (error is not null)
        {
            _broken = true;
            log($"GPU readings stopped: {error.Message}; heartbeats go on without them");
            return [];
        }
        return value ?? [];
    }

    private IReadOnlyList<GpuHeartbeat> SampleNow()
    {
        if (!_opened)
        {
            _opened = true;
            try { _session = NvmlSession.Open(); }
            catch (Exception e) when (e is DriverLibraryNotFoundException or NvmlException or DriverSymbolMissingException)
            {
                log($"no GPU readings in heartbeats (n/a): {e.Message}");
            }
        }
        if (_session is null) return [];
        var list = new List<GpuHeartbeat>();
        var app = GpuWatchProcesses.Descendants(Environment.ProcessId);
        for (var i = 0; i < _session.DeviceCount(); i++)
        {
            var d = _session.Device(i);
            var util = d.Utilization();
            list.Add(new GpuHeartbeat(i,
                util.Map(u => (double)u.gpu).OrNull(),
                d.Memory().Map(m => (long)(m.used / (1024 * 1024))).OrNull(),
                d.TemperatureC().Map(t => (double)t).OrNull(),
                d.PowerDrawW().Map(w => Math.Round(w, 1)).OrNull(),
                util.Map(u => (double)u.memory).OrNull(),
                d.SmClockMHz().Map(c => (int)c).OrNull(),
                d.ThrottleReasonBits().Map(b => (long)b).OrNull(),
                Delta(i, false, d.EccErrors(uncorrected: false, aggregate: false).OrNull()),
                Delta(i, true, d.EccErrors(uncorrected: true, aggregate: false).OrNull()),
                app.Count == 0 ? null : d.ProcessMemoryMiB(app).OrNull()));
        }
        return list;
    }

    private readonly Dictionary<(int Gpu, bool Uncorrected), ulong> _ecc = [];

    /// <summary>ECC errors since the previous heartbeat (the first one reports 0: the baseline); null without ECC.</summary>
    private long? Delta(int gpu, bool uncorrected, ulong? now)
    {
        if (now is not { } n) return null;
        var before = _ecc.TryGetValue((gpu, uncorrected), out var b) ? b : n;
        _ecc[(gpu, uncorrected)] = n;
        return n >= before ? (long)(n - before) : 0; // a driver reload resets the volatile counters
    }

    public void Dispose()
    {
        if (!_broken) _session?.Dispose();
    }
}
