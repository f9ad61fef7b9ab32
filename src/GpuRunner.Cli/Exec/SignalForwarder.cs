using System.Runtime.InteropServices;

namespace GpuRunner.Cli.Exec;

/// <summary>
/// Forwards the signals a container runtime or a terminal sends the runner to the app. SIGTERM, SIGINT and SIGQUIT
/// mean "stop": they are forwarded once and, if the app has not exited after the grace period, it gets SIGKILL (a
/// second stop signal is forwarded again, e.g. a second Ctrl-C). SIGHUP, SIGUSR1 and SIGUSR2 are only forwarded
/// (servers use them to reload or reopen logs).
///
/// The app shares the runner's process group, so when stdin is a terminal a Ctrl-C (SIGINT) or Ctrl-\ (SIGQUIT) has
/// already been delivered to it by the terminal: forwarding it as well would deliver it twice (Python turns a second
/// SIGINT into a KeyboardInterrupt inside its own cleanup). In that case only the grace timer starts.
/// </summary>
public sealed class SignalForwarder : IDisposable
{
    private static readonly int[] StopSignals = [Posix.SIGTERM, Posix.SIGINT, Posix.SIGQUIT];
    private static readonly int[] PassSignals = [Posix.SIGHUP, Posix.SIGUSR1, Posix.SIGUSR2];

    private readonly ChildProcess _child;
    private readonly RunnerLog _log;
    private readonly TimeSpan _grace;
    private readonly bool _terminalDelivers;
    private readonly List<PosixSignalRegistration> _registrations = new();
    private readonly CancellationTokenSource _disposed = new();
    private int _stopSignal;
    private int _killed;

    /// <summary>The first stop signal received (the stop was requested, not a crash), or null.</summary>
    public int? StopSignal => _stopSignal == 0 ? null : _stopSignal;
    /// <summary>True when the grace period ran out and the app got SIGKILL.</summary>
    public bool Killed => _killed != 0;

    public SignalForwarder(ChildProcess child, RunnerLog log, TimeSpan grace, bool terminalDelivers)
    {
        _child = child;
        _log = log;
        _grace = grace;
        _terminalDelivers = terminalDelivers;
    }

    /// <summary>Installs the handlers (the runner itself then no longer dies of these signals).</summary>
    public SignalForwarder Install()
    {
        foreach (var sig in StopSignals.Concat(PassSignals))
            _registrations.Add(PosixSignalRegistration.Create((PosixSignal)ToPosixSignal(sig), ctx =>
            {
                ctx.Cancel = true;
                Forward(sig);
            }));
        return this;
    }

    // PosixSignal names the common signals with negative values; others are passed as raw numbers.
    private static int ToPosixSignal(int sig) => sig switch
    {
        Posix.SIGHUP => (int)PosixSignal.SIGHUP,
        Posix.SIGINT => (int)PosixSignal.SIGINT,
        Posix.SIGQUIT => (int)PosixSignal.SIGQUIT,
        Posix.SIGTERM => (int)PosixSignal.SIGTERM,
        _ => sig,
    };

    /// <summary>What a handler does on <paramref name="signal"/>; public so tests can drive it without signalling the test host.</summary>
    public void Forward(int signal)
    {
        var name = Posix.Name(signal);
        var isStop = StopSignals.Contains(signal);
        var first = isStop && Interlocked.CompareExchange(ref _stopSignal, signal, 0) == 0;
        if (_child.HasExited) return;

        var delivered = isStop && _terminalDelivers && signal is Posix.SIGINT or Posix.SIGQUIT;
        if (!delivered) _child.Signal(signal);
        if (!first)
        {
            _log.Line(isStop ? $"received {name} again: forwarded to the app (pid {_child.Pid})" : $"received {name}: forwarded to the app (pid {_child.Pid})");
            return;
        }
        _log.Line($"received {name}: {(delivered ? "the terminal delivered it to the app" : "forwarded to the app")} (pid {_child.Pid}); " +
                  $"SIGKILL in {_grace.TotalSeconds:0.#} s if it has not exited");
        _ = KillAfterGraceAsync();
    }

    /// <summary>
    /// Stops the app because the core decided so (<paramref name="why"/>): SIGTERM now, SIGKILL after the grace period.
    /// Not a stop signal of the platform: <see cref="StopSignal"/> stays null, so the runner stays up afterwards.
    /// </summary>
    public void StopFor(string why)
    {
        if (_child.HasExited) return;
        _child.Signal(Posix.SIGTERM);
        _log.Line($"{why}: stopping the app with SIGTERM (pid {_child.Pid}); SIGKILL in {_grace.TotalSeconds:0.#} s if it has not exited");
        _ = KillAfterGraceAsync();
    }

    private async Task KillAfterGraceAsync()
    {
        try { await Task.Delay(_grace, _disposed.Token); }
        catch (OperationCanceledException) { return; }
        if (_child.HasExited) return;
        Interlocked.Exchange(ref _killed, 1);
        _log.Line($"the app did not exit within {_grace.TotalSeconds:0.#} s: sending SIGKILL (pid {_child.Pid})");
        _child.Signal(Posix.SIGKILL);
    }

    public void Dispose()
    {
        _disposed.Cancel();
        foreach (var r in _registrations) r.Dispose();
        _disposed.Dispose();
    }
}
