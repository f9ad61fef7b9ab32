using System.Diagnostics;

namespace GpuRunner.Cli.Tests;

/// <summary>
/// Runs the real gpurunner executable in a child process. Used where the environment must be in place before
/// the native libraries load (the fake drivers read FAKE_* with getenv), and to see the true exit code.
/// </summary>
public static class GpuRunnerProcess
{
    /// <summary>Variables that would leak the developer's or CI's setup into a staged case.</summary>
    private static readonly string[] Scrubbed =
        ["CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "NO_COLOR", "GPURUNNER_NVML_PATH", "GPURUNNER_CUDA_PATH"];

    public sealed record Result(int Code, string StdOut, string StdErr, TimeSpan Elapsed);

    public static Result Run(IReadOnlyDictionary<string, string?> env, params string[] args) =>
        Run(env, TimeSpan.FromSeconds(60), args);

    public static Result Run(IReadOnlyDictionary<string, string?> env, TimeSpan timeout, params string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "gpurunner.dll");
        var host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";
        var psi = new ProcessStartInfo(host) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var name in Scrubbed) psi.Environment.Remove(name);
        foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("FAKE_", StringComparison.Ordinal)).ToList())
            psi.Environment.Remove(key);
        foreach (var (key, value) in env)
        {
            if (value is null) psi.Environment.Remove(key);
            else psi.Environment[key] = value;
        }
        var watch = Stopwatch.StartNew();
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"gpurunner {string.Join(' ', args)} did not finish within {timeout.TotalSeconds} s");
        }
        process.WaitForExit();
        return new Result(process.ExitCode, stdout.Result, stderr.Result, watch.Elapsed);
    }
}
