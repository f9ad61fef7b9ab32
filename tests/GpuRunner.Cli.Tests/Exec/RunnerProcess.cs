using System.Diagnostics;
using System.Text;

namespace GpuRunner.Cli.Tests.Exec;

/// <summary>The real `gpurunner` as a separate process (the build output next to the tests), for signal and exit tests.</summary>
internal sealed class RunnerProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _out = new(), _err = new();

    public static readonly string Dll = typeof(CliApp).Assembly.Location;
    public static string DotnetHost => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } p ? p : "dotnet";

    public RunnerProcess(IEnumerable<string> args, IDictionary<string, string?>? env = null)
    {
        var info = new ProcessStartInfo(DotnetHost)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true, // not a terminal: SIGINT is forwarded, not assumed delivered
            UseShellExecute = false,
        };
        info.ArgumentList.Add(Dll);
        foreach (var a in args) info.ArgumentList.Add(a);
        foreach (var name in new[] { "GPURUNNER_CORE_URL", "SPACE_ID", "GPURUNNER_TOKEN", "PORT" }) info.Environment.Remove(name);
        if (env is not null)
            foreach (var (k, v) in env)
                if (v is null) info.Environment.Remove(k); else info.Environment[k] = v;
        _process = Process.Start(info)!;
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_out) _out.AppendLine(e.Data); };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_err) _err.AppendLine(e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public int Pid => _process.Id;
    public bool HasExited => _process.HasExited;
    public string StdOut { get { lock (_out) return _out.ToString(); } }
    public string StdErr { get { lock (_err) return _err.ToString(); } }

    public async Task WaitForOutputAsync(string text, int timeoutMs = 30_000)
    {
        var sw = Stopwatch.StartNew();
        while (!StdOut.Contains(text) && !StdErr.Contains(text))
        {
            if (_process.HasExited || sw.ElapsedMilliseconds > timeoutMs)
                throw new TimeoutException($"'{text}' never appeared.\nstdout:\n{StdOut}\nstderr:\n{StdErr}");
            await Task.Delay(20);
        }
    }

    public async Task<int> WaitForExitAsync(int timeoutMs = 60_000)
    {
        using var cts = new CancellationTokenSource(timeoutMs);
        try { await _process.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
            throw new TimeoutException($"the runner did not exit.\nstdout:\n{StdOut}\nstderr:\n{StdErr}");
        }
        _process.WaitForExit(); // drains the async readers
        return _process.ExitCode;
    }

    public void Dispose()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.Dispose();
    }
}
