using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace GpuRunner.Cli.Tests;

/// <summary>
/// The README's quick starts work as written: each one's ```sh blocks run in bash, in the repository, with
/// `gpurunner` being this build. The only change is the core's port (8080 becomes a free one), so that runs side by
/// side do not collide.
/// </summary>
public sealed partial class ReadmeQuickStartTests
{
    private static readonly string Root = FindRoot();

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "GpuRunner.sln"))) return dir.FullName;
        throw new InvalidOperationException("GpuRunner.sln not found above " + AppContext.BaseDirectory);
    }

    /// <summary>Each "## Quick start: TITLE" section's shell blocks, in order.</summary>
    public static Dictionary<string, string> QuickStarts()
    {
        var readme = File.ReadAllText(Path.Combine(Root, "README.md"));
        return QuickStart().Matches(readme).ToDictionary(m => m.Groups["title"].Value.Trim(),
            m => string.Concat(ShellBlock().Matches(m.Groups["body"].Value).Select(b => b.Groups["code"].Value)));
    }

    [Fact]
    public void TheReadmeHasAQuickStartForEachKindOfUser()
    {
        var starts = QuickStarts();
        Assert.Equal(["deploy a GPU container", "smoke-test an upgrade", "run the core"], starts.Keys);
        Assert.All(starts.Values, script => Assert.Contains("gpurunner ", script));
        Assert.Contains("dotnet test GpuRunner.sln", File.ReadAllText(Path.Combine(Root, "README.md")));
        Assert.True(File.ReadAllLines(Path.Combine(Root, "README.md")).Length <= 250, "the README is a guide: at most ~250 lines");
    }

    [SkippableTheory]
    [InlineData("deploy a GPU container", "the app did its work")]
    [InlineData("smoke-test an upgrade", "SMOKE VERDICT: ")]
    [InlineData("run the core", "owed: $0.00")]
    public async Task AQuickStartRunsAsWritten(string title, string expected)
    {
        var script = QuickStarts()[title];
        foreach (var tool in Regex.Matches(script, @"\b(curl|openssl)\b").Select(m => m.Value).Distinct())
            Skip.If(!OnPath(tool), $"{tool} is not installed, and this quick start uses it");

        var data = Directory.CreateTempSubdirectory("gpurunner-readme-").FullName;
        try
        {
            var (code, output) = await RunBashAsync(script.Replace("127.0.0.1:8080", $"127.0.0.1:{FreePort()}"), data);
            Assert.True(code == 0, $"the '{title}' quick start failed (exit {code}):\n{output}");
            Assert.Contains(expected, output);
            Assert.DoesNotContain("gpurunner: usage:", output);
        }
        finally { Directory.Delete(data, true); }
    }

    private static async Task<(int Code, string Output)> RunBashAsync(string script, string data)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "gpurunner.dll");
        var host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h ? h : "dotnet";
        // `gpurunner` is this build: an executable on PATH that execs it, so `gpurunner ... &` and `$!` name the real
        // process, as with the published binary. The prelude stops any background job (the core) however it ends.
        var bin = Directory.CreateDirectory(Path.Combine(data, "bin")).FullName;
        var shim = Path.Combine(bin, "gpurunner");
        File.WriteAllText(shim, $"#!/bin/sh\nexec '{host}' '{dll}' \"$@\"\n");
        File.SetUnixFileMode(shim, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        const string prelude = "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n";
        var info = new ProcessStartInfo("bash") { WorkingDirectory = Root, RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var name in new[] { "GPURUNNER_CORE_URL", "SPACE_ID", "GPURUNNER_TOKEN", "PORT", "NO_COLOR" }) info.Environment.Remove(name);
        info.Environment["GPURUNNER_DATA"] = data;
        info.Environment["PATH"] = bin + ":" + Environment.GetEnvironmentVariable("PATH");
        using var process = Process.Start(info)!;
        await process.StandardInput.WriteAsync(prelude + script);
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(180));
        try { await process.WaitForExitAsync(deadline.Token); }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"the quick start did not finish in 180 s:\n{await stdout}\n{await stderr}");
        }
        // A background process left behind would hold the pipes open: the output must still end within a deadline.
        var drained = TimeSpan.FromSeconds(30);
        return (process.ExitCode, await stdout.WaitAsync(drained) + await stderr.WaitAsync(drained));
    }

    private static bool OnPath(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => File.Exists(Path.Combine(d, tool)));

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    [GeneratedRegex(@"(?ms)^## Quick start: (?<title>[^\n]+)\n(?<body>.*?)(?=^## |\z)")]
    private static partial Regex QuickStart();

    [GeneratedRegex(@"(?ms)^```sh\n(?<code>.*?)^```")]
    private static partial Regex ShellBlock();
}
