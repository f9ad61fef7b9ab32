using System.Runtime.InteropServices;

namespace GpuRunner.Cli.Exec;

/// <summary>
/// While `exec` waits with no app running (a paused or sleeping Space), SIGTERM, SIGINT and SIGQUIT end the wait:
/// <see cref="Token"/> is cancelled and the runner exits (`docker stop` must not have to wait for its SIGKILL).
/// </summary>
public sealed class StopSignals : IDisposable
{
    private readonly CancellationTokenSource _cts = new();
    private readonly List<PosixSignalRegistration> _registrations = [];
    private int _signal;

    public CancellationToken Token => _cts.Token;
    /// <summary>The signal that ended the wait (0: none).</summary>
    public int Signal => _signal;

    public StopSignals()
    {
        foreach (var (sig, posix) in new[] { (Posix.SIGTERM, PosixSignal.SIGTERM), (Posix.SIGINT, PosixSignal.SIGINT), (Posix.SIGQUIT, PosixSignal.SIGQUIT) })
            _registrations.Add(PosixSignalRegistration.Create(posix, ctx =>
            {
                ctx.Cancel = true;
                Interlocked.CompareExchange(ref _signal, sig, 0);
                try { _cts.Cancel(); } catch (ObjectDisposedException) { }
            }));
    }

    public void Dispose()
    {
        foreach (var r in _registrations) r.Dispose();
        _cts.Dispose();
    }
}
