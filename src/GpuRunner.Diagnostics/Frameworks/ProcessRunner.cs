using System.Diagnostics;
using System.Text;

namespace GpuRunner.Diagnostics.Frameworks;

/// <summary>What a finished (or killed) child process left behind.</summary>
public sealed record ProcessOutcome(int? ExitCode, string StdOut, string StdErr, bool TimedOut, double Seconds)
{
    public bool Started => ExitCode is not null || TimedOut;
}

/// <summary>
/// Runs a child process with a hard timeout. On timeout the whole process tree is killed: a Python that imports
/// torch spawns helpers, and a hung CUDA init must never hang verify.
/// </summary>
public static class ProcessRunner
{
    /// <summary>Output beyond this is dropped (a runaway child must not eat the host's memory).</summary>
    private const int MaxCapturedChars = 1 << 20;

    public static async Task<ProcessOutcome> RunAsync(string fileName, IEnumerable<string> arguments, TimeSpan timeout,
        IReadOnlyDictionary<string, string?>? environment = null, string? workingDirectory = null,
        CancellationToken cancellationToken = default)
    {
        var start = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            // `python -c` puts the working directory first on sys.path: run from / so a stray torch.py in the
            // caller's directory cannot shadow the real module.
            WorkingDirectory = workingDirectory ?? "/",
        };
        foreach (var a in arguments) start.ArgumentList.Add(a);
        if (environment is not null)
            foreach (var (k, v) in environment)
                if (v is null) start.Environment.Remove(k); else start.Environment[k] = v;

        var stopwatch = Stopwatch.StartNew();
        using var process = new Process { StartInfo = start };
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        process.OutputDataReceived += (_, e) => Append(stdout, e.Data);
        process.ErrorDataReceived += (_, e) => Append(stderr, e.Data);
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return new ProcessOutcome(null, "", $"cannot start {fileName}: {e.Message}", false, stopwatch.Elapsed.TotalSeconds);
        }
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        using var timeoutCts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeoutCts.CancelAfter(timeout);
        var timedOut = false;
        try
        {
            await process.WaitForExitAsync(timeoutCts.Token);
        }
        catch (OperationCanceledException)
        {
            timedOut = !cancellationToken.IsCancellationRequested;
            try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { /* already gone */ }
            // Bounded wait for the kill to land so the streams are flushed.
            using var reap = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try { await process.WaitForExitAsync(reap.Token); } catch (OperationCanceledException) { }
            cancellationToken.ThrowIfCancellationRequested();
        }
        // WaitForExitAsync returns once the redirected streams reached EOF too, except after a kill.
        string outText, errText;
        lock (stdout) outText = stdout.ToString();
        lock (stderr) errText = stderr.ToString();
        return new ProcessOutcome(timedOut ? null : process.ExitCode, outText, errText, timedOut, stopwatch.Elapsed.TotalSeconds);
    }

    private static void Append(StringBuilder sb, string? line)
    {
        if (line is null) return;
        lock (sb)
        {
            if (sb.Length + line.Length > MaxCapturedChars) return;
            sb.Append(line).Append('\n');
        }
    }
}
