using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace GpuRunner.Cli.Tests.Exec;

/// <summary>
/// `exec` on a host without an NVIDIA driver (a cpu-basic Space): verify PASSes, `--require` lets the app start, the
/// core stores that verdict, and the runner says only a few lines before the app's first one.
/// </summary>
public sealed class CpuTierExecTests
{
    private static Dictionary<string, string?> NoDriverEnv(string data)
    {
        Skip.If(System.Runtime.InteropServices.NativeLibrary.TryLoad("libnvidia-ml.so.1", out _),
            "a real NVIDIA driver is installed here, so a CPU-only host cannot be staged");
        var empty = Directory.CreateTempSubdirectory("gpurunner-empty-").FullName;
        return new() { ["GPURUNNER_DATA"] = data, ["GPURUNNER_NVML_PATH"] = empty, ["GPURUNNER_CUDA_PATH"] = empty };
    }

    /// <summary>The runner's own lines before the app's first line (the app writes it to stderr, so one stream orders both).</summary>
    private static List<string> RunnerLinesBeforeTheApp(string stderr, string firstAppLine)
    {
        var lines = stderr.Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        var first = lines.IndexOf(firstAppLine);
        Assert.True(first >= 0, "the app's first line is missing:\n" + stderr);
        return lines.Take(first).Where(l => l.StartsWith("[gpurunner] ", StringComparison.Ordinal)).ToList();
    }

    [SkippableFact]
    public async Task ACpuSpaceVerifiesPassUnderRequireAndTheCoreStoresThatVerdict()
    {
        using var core = new LiveCore();
        var env = NoDriverEnv(core.Dir + "/runner");
        await core.StartAsync();
        var token = await core.CreateSpaceAsync("cpu", "cpu-basic");

        using var runner = new RunnerProcess(["exec", "--core", core.Url.ToString(), "--space", "alice/cpu", "--token", token,
            "--require", "--ready-log", "^app-up$", "--", "sh", "-c", "echo app-up >&2; echo bye"], env);
        Assert.Equal(0, await runner.WaitForExitAsync());

        var before = RunnerLinesBeforeTheApp(runner.StdErr, "app-up");
        Assert.InRange(before.Count, 1, 5); // where it reports, the verify summary, the readiness method, the stage
        Assert.Contains(before, l => l.StartsWith("[gpurunner] reporting to ", StringComparison.Ordinal));
        Assert.Contains(before, l => l.StartsWith("[gpurunner] verify PASS · no GPU (CPU-only host)", StringComparison.Ordinal));
        // The app starts the moment it is spawned: its first line may beat the runner's own "started" line.
        Assert.Contains("RUNNING once a log line matches", runner.StdErr);
        Assert.DoesNotContain("tried ", runner.StdErr);

        var runtime = await core.GetAsync("api/spaces/alice/cpu/runtime");
        Assert.Equal("STOPPED", runtime.GetProperty("stage").GetString());
        // The Space page shows the verdict of the stored device report: the same PASS.
        using var db = new SqliteConnection($"Data Source={core.Dir}/core.db;Mode=ReadOnly;Pooling=false");
        db.Open();
        using var cmd = db.CreateCommand();
        cmd.CommandText = "SELECT detail FROM events WHERE kind = 'device'";
        var detail = Assert.IsType<string>(cmd.ExecuteScalar());
        using var device = JsonDocument.Parse(detail);
        Assert.Equal("PASS", device.RootElement.GetProperty("verdict").GetString());
    }

    [SkippableFact]
    public async Task VerboseShowsTheWholeVerifyBlock()
    {
        var data = Path.Combine(Path.GetTempPath(), "gpurunner-cpu-" + Guid.NewGuid().ToString("N"));
        using var runner = new RunnerProcess(["exec", "--verbose", "--ready-log", "^app-up$", "--", "sh", "-c", "echo app-up >&2"], NoDriverEnv(data));
        Assert.Equal(0, await runner.WaitForExitAsync());

        var before = RunnerLinesBeforeTheApp(runner.StdErr, "app-up");
        Assert.Contains(before, l => l.StartsWith("[gpurunner] SKIP  driver.library  no NVIDIA driver: a CPU-only host", StringComparison.Ordinal));
        Assert.Contains(before, l => l.StartsWith("[gpurunner] verdict PASS: ", StringComparison.Ordinal));
        Assert.Contains(before, l => l.Contains("tried ", StringComparison.Ordinal)); // --verbose: the places searched too
        try { Directory.Delete(data, true); } catch (IOException) { }
    }
}
