using System.ComponentModel;
using System.Diagnostics;

namespace GpuRunner.Cli.Exec;

/// <summary>
/// The user's workload. It stays in the runner's process group (.NET's Process cannot make a new one), inherits
/// stdin and the environment, and its stdout/stderr are pumped line by line to ours. When the runner is PID 1 in a
/// container, `docker stop` signals only the runner, which forwards the signal here; see <see cref="SignalForwarder"/>.
/// </summary>
public sealed class ChildProcess : IDisposable
{
    private readonly Process _process;
    private readonly Task _pumps;

    public int Pid { get; }
    public DateTimeOffset StartedAt { get; }

    private ChildProcess(Process process, Task pumps, DateTimeOffset startedAt)
    {
        _process = process;
        _pumps = pumps;
        Pid = process.Id;
        StartedAt = startedAt;
    }

    /// <summary>Starts the command; throws <see cref="ChildStartException"/> (with the shell's 126/127 code) when it cannot.</summary>
    public static ChildProcess Start(IReadOnlyList<string> command, Stream stdout, Stream stderr, object gate,
        Action<string> onStdoutLine, Action<string> onStderrLine, IReadOnlyDictionary<string, string>? extraEnv = null)
    {
        var info = new ProcessStartInfo(command[0])
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
        };
        foreach (var arg in command.Skip(1)) info.ArgumentList.Add(arg);
        if (extraEnv is not null)
            foreach (var (k, v) in extraEnv) info.Environment[k] = v;

        var startedAt = DateTimeOffset.UtcNow;
        Process process;
        try
        {
            process = Process.Start(info) ?? throw new ChildStartException($"cannot start '{command[0]}'", 127);
        }
        catch (Win32Exception e)
        {
            // Shell conventions: 127 = not found, 126 = found but not executable.
            // Win32Exception(code).Message is the bare strerror ("No such file or directory").
            var reason = new Win32Exception(e.NativeErrorCode).Message;
            var where = e.NativeErrorCode == 2 && !command[0].Contains('/') ? " (looked in PATH)" : "";
            throw new ChildStartException($"cannot start '{command[0]}': {reason}{where}", e.NativeErrorCode == 2 ? 127 : 126, e);
        }
        var pumps = Task.WhenAll(
            Task.Run(() => new LinePump(process.StandardOutput.BaseStream, stdout, gate, onStdoutLine).RunAsync()),
            Task.Run(() => new LinePump(process.StandardError.BaseStream, stderr, gate, onStderrLine).RunAsync()));
        return new ChildProcess(process, pumps, startedAt);
    }

    /// <summary>Completes with the exit code (128+N for signal N) once the child has exited and its output is drained.</summary>
    public async Task<int> WaitAsync()
    {
        await _process.WaitForExitAsync();
        // A grandchild may keep the pipes open after the child died; don't wait for it for ever.
        await Task.WhenAny(_pumps, Task.Delay(TimeSpan.FromSeconds(2)));
        return _process.ExitCode;
    }

    public bool HasExited => _process.HasExited;

    public bool Signal(int signal) => !_process.HasExited && Posix.Kill(Pid, signal);

    public void Dispose() => _process.Dispose();
}

public sealed class ChildStartException(string message, int exitCode, Exception? inner = null) : Exception(message, inner)
{
    public int ExitCode { get; } = exitCode;
}
