using GpuRunner.Native;
using GpuRunner.Native.Nvml;

namespace GpuRunner.Diagnostics.Watch;

/// <summary>How the watch runs: how often it polls the counters, how long one event wait may block.</summary>
public sealed record GpuWatchOptions(TimeSpan? Poll = null, TimeSpan? WaitSlice = null, TimeProvider? Time = null)
{
    public static readonly TimeSpan DefaultPoll = TimeSpan.FromSeconds(5);
}

/// <summary>
/// Watches every visible GPU while the app runs, on a thread of its own (a wedged driver can block NVML calls for
/// ever: the app must never wait on it). NVML events (Xid critical errors, single/double-bit ECC, clock changes,
/// power-source changes, as far as each device supports them) are waited for in short slices; the same facts are
/// also polled (ECC counters, retired pages / row remaps pending, clock event reasons, PCIe replays, a lost GPU),
/// which is all there is where events are not supported, as inside many containers. Each finding is classified
/// (<see cref="XidTable"/>) and handed to <c>onEvent</c> on the watch thread; repeats are not reported twice.
/// </summary>
public sealed class GpuWatcher : IDisposable
{
    // Clock event reasons worth a word (nvmlClocksEventReason*): idle, application clocks, sync boost and display
    // are normal and never reported.
    private static readonly (ulong Bit, string Cause, string Advice)[] Reasons =
    [
        (0x4, "power-cap throttling: clocks held down to stay under the power limit", "normal under load: nothing to do"),
        (0x8, "hardware slowdown (an external power-brake or over-temperature signal)", "the platform's power or cooling: the app runs slower meanwhile"),
        (0x20, "software thermal slowdown: the GPU is hot", "the platform's cooling: the app runs slower meanwhile"),
        (0x40, "hardware thermal slowdown: the GPU is too hot", "the platform's cooling: the app runs much slower meanwhile"),
        (0x80, "power-brake slowdown", "the platform's power supply: the app runs slower meanwhile"),
    ];

    private readonly XidTable _table;
    private readonly Action<GpuWatchEvent> _onEvent;
    private readonly Action<string> _log;
    private readonly TimeSpan _poll, _slice;
    private readonly TimeProvider _time;
    private readonly ManualResetEventSlim _wake = new();
    private readonly object _gate = new();
    private Thread? _thread;
    private volatile bool _stop;
    private long _polls, _pollRequested;
    private GpuWatchEvent? _firstFault;

    public GpuWatcher(XidTable table, Action<GpuWatchEvent> onEvent, Action<string> log, GpuWatchOptions? options = null)
    {
        _table = table;
        _onEvent = onEvent;
        _log = log;
        _poll = options?.Poll ?? GpuWatchOptions.DefaultPoll;
        _slice = options?.WaitSlice ?? TimeSpan.FromMilliseconds(500);
        _time = options?.Time ?? TimeProvider.System;
    }

    /// <summary>"events", "poll" or "off" (no NVML); "starting" until the thread has looked.</summary>
    public string Mode { get; private set; } = "starting";

    /// <summary>The first fatal or user-code fault seen (what a RUNTIME_ERROR should name), null when none: of the
    /// current run of the app, or a fatal one from before it (it holds until the GPU is reset).</summary>
    public GpuWatchEvent? FirstFault { get { lock (_gate) return _firstFault; } }

    /// <summary>A new run of the app starts: a user-code fault of an earlier run no longer explains a crash (the app
    /// was restarted since); a fatal one still does, because nothing here resets the GPU.</summary>
    public void BeginRun()
    {
        lock (_gate) if (_firstFault is { Fatal: false }) _firstFault = null;
    }

    public void Start()
    {
        if (_thread is not null) return; // exec starts each new run of the app the same way: one watch thread in all
        _thread = new Thread(Run) { IsBackground = true, Name = "gpu-watch" };
        _thread.Start();
    }

    /// <summary>
    /// Asks for a poll now and waits (at most <paramref name="deadline"/>) until one has finished: a crash of the app
    /// may come a moment before the watch has seen why.
    /// </summary>
    public bool Settle(TimeSpan deadline)
    {
        if (_thread is null || Mode == "off") return true;
        long target;
        lock (_gate)
        {
            target = _polls + 1;
            _pollRequested = target;
        }
        _wake.Set();
        var until = DateTime.UtcNow + deadline;
        lock (_gate)
        {
            while (_polls < target && !_stop && _thread.IsAlive)
            {
                var left = until - DateTime.UtcNow;
                if (left <= TimeSpan.Zero) return false;
                Monitor.Wait(_gate, left);
            }
        }
        return true;
    }

    /// <summary>Stops the thread; false when it did not end within <paramref name="deadline"/> (a hung NVML call).</summary>
    public bool Stop(TimeSpan deadline)
    {
        _stop = true;
        _wake.Set();
        return _thread is null || _thread.Join(deadline);
    }

    public void Dispose()
    {
        if (Stop(TimeSpan.FromSeconds(2))) _wake.Dispose();
    }

    private sealed class DeviceState(NvmlDevice device)
    {
        public NvmlDevice Device { get; } = device;
        public NvmlEventType Registered;
        public ulong? Corrected, Uncorrected;
        public uint? Replays;
        public bool RemapPending, RemapFailed, RetiredPending, Lost;
        public ulong ReasonsSeen;
    }

    private void Run()
    {
        NvmlSession session;
        try { session = NvmlSession.Open(); }
        catch (Exception e) when (e is DriverLibraryNotFoundException or NvmlException or DriverSymbolMissingException)
        {
            Mode = "off";
            _log($"GPU watch off: {e.Message}");
            lock (_gate) Monitor.PulseAll(_gate);
            return;
        }
        NvmlEventSet? set = null;
        try
        {
            var devices = new List<DeviceState>();
            for (var i = 0; i < session.DeviceCount(); i++) devices.Add(new DeviceState(session.Device(i)));
            set = Register(devices, out var why);
            var registered = devices.Aggregate(NvmlEventType.None, (a, d) => a | d.Registered);
            Mode = set is null ? "poll" : "events";
            _log(set is null
                ? $"GPU watch: {devices.Count} GPU(s), NVML events not available ({why}): polling ECC counters, retired pages / row remaps, clock event reasons and PCIe replays every {_poll.TotalSeconds:0.#} s"
                : $"GPU watch: {devices.Count} GPU(s), NVML events ({registered}) and a poll every {_poll.TotalSeconds:0.#} s");
            foreach (var d in devices) Poll(d, baseline: true);
            var lastPoll = _time.GetTimestamp();
            while (!_stop)
            {
                if (set is not null)
                {
                    NvmlEvent? e = null;
                    try { e = set.Wait((uint)_slice.TotalMilliseconds); }
                    catch (NvmlException x) when (x.Code == NvmlReturn.GpuIsLost)
                    {
                        foreach (var d in devices) Poll(d, baseline: false); // find out which one
                    }
                    if (e is { } ev) Handle(ev, devices);
                }
                else
                {
                    _wake.Wait(_slice);
                }
                _wake.Reset();
                bool due;
                lock (_gate) due = _pollRequested > _polls;
                if (due || _time.GetElapsedTime(lastPoll) >= _poll)
                {
                    foreach (var d in devices) Poll(d, baseline: false);
                    lastPoll = _time.GetTimestamp();
                    lock (_gate)
                    {
                        _polls++;
                        Monitor.PulseAll(_gate);
                    }
                }
            }
        }
        catch (Exception e) when (e is NvmlException or DriverSymbolMissingException)
        {
            Mode = "off";
            _log($"GPU watch stopped: {e.Message}");
        }
        finally
        {
            set?.Dispose();
            session.Dispose();
            lock (_gate) Monitor.PulseAll(_gate);
        }
    }

    private static NvmlEventSet? Register(List<DeviceState> devices, out string why)
    {
        why = "";
        NvmlEventSet set;
        try { set = NvmlEventSet.Create(); }
        catch (Exception e) when (e is NvmlException or DriverSymbolMissingException)
        {
            why = e is NvmlException n ? n.Symbol : "nvmlEventSetCreate missing";
            return null;
        }
        try
        {
            foreach (var d in devices) d.Registered = set.Register(d.Device, NvmlEventType.Watched);
        }
        catch (Exception e) when (e is NvmlException or DriverSymbolMissingException)
        {
            why = e is NvmlException n ? n.Symbol : "nvmlDeviceRegisterEvents missing";
            foreach (var d in devices) d.Registered = NvmlEventType.None;
        }
        if (devices.Any(d => d.Registered != NvmlEventType.None)) return set;
        if (why == "") why = "NVML_ERROR_NOT_SUPPORTED";
        set.Dispose();
        return null;
    }

    private void Handle(NvmlEvent e, List<DeviceState> devices)
    {
        var d = e.DeviceIndex >= 0 && e.DeviceIndex < devices.Count ? devices[e.DeviceIndex] : null;
        switch (e.Type)
        {
            case NvmlEventType.XidCriticalError:
            {
                var x = _table.Classify((int)e.Data);
                Report(e.DeviceIndex, "xid", x.Code, x.Class, x.Fatal, x.Cause);
                if (x.Code == 79 && d is not null) d.Lost = true;
                break;
            }
            case NvmlEventType.DoubleBitEccError:
                Report(e.DeviceIndex, "ecc_dbe", 48, GpuFaultClass.Hardware, true, _table.Classify(48).Cause);
                break;
            case NvmlEventType.SingleBitEccError:
                Report(e.DeviceIndex, "ecc_sbe", null, GpuFaultClass.Info, false, "a single-bit ECC error was corrected");
                break;
            case NvmlEventType.PowerSourceChange:
                Report(e.DeviceIndex, "power_source", (int)e.Data, GpuFaultClass.Info, false, "the GPU's power source changed");
                break;
            case NvmlEventType.Clock when d is not null:
                Throttle(d); // a clock change: say why, if the reason is new
                break;
        }
    }

    /// <summary>Compares the device's counters with what was seen before (<paramref name="baseline"/>: only remember).</summary>
    private void Poll(DeviceState d, bool baseline)
    {
        if (d.Lost) return;
        var probe = d.Device.TemperatureC();
        if (!probe.HasValue && probe.Code == NvmlReturnNames.SymbolOf(NvmlReturn.GpuIsLost))
        {
            d.Lost = true;
            Report(d.Device.Index, "gpu_lost", 79, GpuFaultClass.Hardware, true, _table.Classify(79).Cause);
            return;
        }
        var unc = d.Device.EccErrors(uncorrected: true, aggregate: false).OrNull();
        var cor = d.Device.EccErrors(uncorrected: false, aggregate: false).OrNull();
        var replays = d.Device.PcieReplayCounter().OrNull();
        var remap = d.Device.RemappedRows();
        var retired = d.Device.RetiredPagesPending();
        if (!baseline)
        {
            // Counters are reported here only where the event for them is not registered (else the event said it).
            if (unc > d.Uncorrected && !d.Registered.HasFlag(NvmlEventType.DoubleBitEccError))
                Report(d.Device.Index, "ecc_dbe", 48, GpuFaultClass.Hardware, true, _table.Classify(48).Cause);
            if (cor > d.Corrected && !d.Registered.HasFlag(NvmlEventType.SingleBitEccError))
                Report(d.Device.Index, "ecc_sbe", null, GpuFaultClass.Info, false, $"{cor - d.Corrected} single-bit ECC error(s) were corrected");
            if (replays > d.Replays)
                Report(d.Device.Index, "pcie_replay", (int)Math.Min(int.MaxValue, replays!.Value - d.Replays!.Value), GpuFaultClass.Info, false,
                    $"the PCIe link retried {replays - d.Replays} transfer(s) (a rising count is a flaky link)");
            if (remap.HasValue && remap.Value.Failure && !d.RemapFailed)
                Report(d.Device.Index, "remap_failed", 64, GpuFaultClass.Hardware, true, _table.Classify(64).Cause);
            else if (remap.HasValue && remap.Value.Pending && !d.RemapPending)
                Report(d.Device.Index, "remap_pending", 63, GpuFaultClass.Hardware, false, _table.Classify(63).Cause);
            if (retired.HasValue && retired.Value && !d.RetiredPending)
                Report(d.Device.Index, "retired_pending", 63, GpuFaultClass.Hardware, false, _table.Classify(63).Cause);
        }
        d.Uncorrected = unc ?? d.Uncorrected;
        d.Corrected = cor ?? d.Corrected;
        d.Replays = replays ?? d.Replays;
        if (remap.HasValue) (d.RemapPending, d.RemapFailed) = (remap.Value.Pending, remap.Value.Failure);
        if (retired.HasValue) d.RetiredPending = retired.Value;
        Throttle(d);
    }

    /// <summary>Each notable clock event reason is said once per run, the first time it shows.</summary>
    private void Throttle(DeviceState d)
    {
        var bits = d.Device.ThrottleReasonBits();
        if (!bits.HasValue) return;
        foreach (var (bit, cause, advice) in Reasons)
        {
            if ((bits.Value & bit) == 0 || (d.ReasonsSeen & bit) != 0) continue;
            d.ReasonsSeen |= bit;
            Report(d.Device.Index, "throttle", (int)bit, GpuFaultClass.Info, false, cause, advice);
        }
    }

    internal void Report(int gpu, string kind, int? code, GpuFaultClass c, bool fatal, string cause, string? advice = null)
    {
        var e = new GpuWatchEvent(_time.GetUtcNow(), gpu, kind, code, c, fatal, cause, _table.Verdict(c), advice ?? _table.Advice(c));
        // Recorded first, then published as the crash's cause: exec reports the RUNTIME_ERROR as soon as it sees the
        // cause, and the core must receive the fault before the crash it explains (else it auto-pauses the Space for
        // what was the platform's fault).
        try { _onEvent(e); }
        catch (Exception x) { _log($"GPU watch: could not record an event: {x.Message}"); }
        lock (_gate)
        {
            if (_firstFault is null && (fatal || c == GpuFaultClass.User)) _firstFault = e;
        }
    }
}
