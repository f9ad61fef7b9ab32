using GpuRunner.Client;
using GpuRunner.Diagnostics.Checks;
using GpuRunner.Native;
using GpuRunner.Native.Nvml;

namespace GpuRunner.Cli.Exec;

/// <summary>
/// Heartbeat readings from NVML: utilisation, memory used, temperature and power per GPU (null where the device has no
/// such sensor). NVML is opened once for the run. Without a driver library the heartbeats carry no GPU readings
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
        for (var i = 0; i < _session.DeviceCount(); i++)
        {
            var d = _session.Device(i);
            list.Add(new GpuHeartbeat(i,
                d.Utilization().Map(u => (double)u.gpu).OrNull(),
                d.Memory().Map(m => (long)(m.used / (1024 * 1024))).OrNull(),
                d.TemperatureC().Map(t => (double)t).OrNull(),
                d.PowerDrawW().Map(w => Math.Round(w, 1)).OrNull()));
        }
        return list;
    }

    public void Dispose()
    {
        if (!_broken) _session?.Dispose();
    }
}
