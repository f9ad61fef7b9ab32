using System.Text.Json;
using GpuRunner.Cli.Exec;
using GpuRunner.Client;
using GpuRunner.Tests.Fakes;

namespace GpuRunner.Cli.Tests.Exec;

/// <summary>The GPU watch of `exec` without a core: the fake NVML's scripted events, the log lines, the crash cause.</summary>
public sealed class GpuWatchTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "gpurunner-watch-" + Guid.NewGuid().ToString("N"));

    public GpuWatchTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        try { Directory.Delete(_dir, true); } catch (IOException) { }
    }

    private RunnerProcess Exec(string events, string? unsupported, string script, params string[] options) =>
        new([.. new[] { "exec", "--ready-log", "^ready$", "--gpu-poll", "0.3" }, .. options, "--", "sh", "-c", script],
            new Dictionary<string, string?>
            {
                ["GPURUNNER_DATA"] = _dir, ["GPURUNNER_NVML_PATH"] = FakeDrivers.Folder, ["GPURUNNER_CUDA_PATH"] = FakeDrivers.Folder,
                ["FAKE_NVML_EVENTS"] = events, ["FAKE_NVML_TRIGGER_FILE"] = Path.Combine(_dir, "trigger"),
                ["FAKE_NVML_THROTTLE"] = "0x4", ["FAKE_NVML_UNSUPPORTED"] = unsupported,
            });

    /// <summary>The app waits (at most 30 s) for the test's "done" file, then fails with code 3.</summary>
    private string WaitThenFail => $"echo ready; i=0; while [ ! -e '{_dir}/done' ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; " +
                                   "echo 'CUDA error: uncorrectable ECC error encountered' >&2; exit 3";

    [Theory]
    [InlineData(null, "GPU 0: a double-bit ECC error in GPU memory (double-bit ECC) at")]   // the NVML event
    [InlineData("events", "GPU 0: a double-bit ECC error in GPU memory (double-bit ECC) at")] // the poll of the ECC counter
    public async Task ADoubleBitEccErrorIsAHardwareFaultNamedInTheRuntimeError(string? unsupported, string line)
    {
        using var runner = Exec("dbe@trigger", unsupported, WaitThenFail);
        await runner.WaitForOutputAsync("GPU watch: 1 GPU(s)");
        // Throttling under the power cap is said once, as information, before anything goes wrong.
        await runner.WaitForOutputAsync("power-cap throttling");
        await File.WriteAllTextAsync(Path.Combine(_dir, "trigger"), "now");
        await runner.WaitForOutputAsync(line);
        await File.WriteAllTextAsync(Path.Combine(_dir, "done"), "now");
        Assert.Equal(3, await runner.WaitForExitAsync());

        var log = runner.StdErr;
        Assert.Contains("hardware fault, not your code. the GPU needs a reset or a replacement", log);
        Assert.Contains("stage RUNTIME_ERROR: a double-bit ECC error in GPU memory (double-bit ECC) at", log);
        Assert.Single(log.Split('\n'), l => l.Contains("double-bit ECC) at")
                                            && !l.Contains("stage RUNTIME_ERROR")); // said once, not per poll
        Assert.Single(log.Split('\n'), l => l.Contains("power-cap throttling"));
        Assert.DoesNotContain("gpu_idle", log);
    }

    [Fact]
    public async Task AnAppThatFailsOnAHealthyGpuGetsNoGpuCauseAndNoWatchWithTheFlagOff()
    {
        await File.WriteAllTextAsync(Path.Combine(_dir, "done"), "now");
        using var runner = Exec("", null, WaitThenFail, "--no-gpu-watch");
        Assert.Equal(3, await runner.WaitForExitAsync());
        Assert.DoesNotContain("GPU watch", runner.StdErr);
        Assert.Contains("stage RUNTIME_ERROR: exited with code 3", runner.StdErr);
    }

    [Theory]
    [InlineData("0.1")]
    [InlineData("abc")]
    public void ABadPollIntervalIsOneClearLine(string value)
    {
        var r = GpuRunnerProcess.Run(new Dictionary<string, string?>(), "exec", "--gpu-poll", value, "--", "true");
        Assert.Equal(2, r.Code);
        Assert.Contains("--gpu-poll", r.StdErr);
        Assert.DoesNotContain("Exception", r.StdErr);
    }

    [Fact]
    public void AHeartbeatWithEveryReadingStaysSmall()
    {
        // The largest one-GPU heartbeat the runner makes: every reading present, at realistic magnitudes.
        var gpu = new GpuHeartbeat(0, 100, 143_771, 71, 699.9, 87, 1980, 0x4, 12, 1, 80_123);
        var gpus = JsonSerializer.Serialize(new[] { gpu }, RunnerJsonContext.Default.IReadOnlyListGpuHeartbeat);
        var whole = RunnerClient.Serialize(new HeartbeatEvent(EventRecorder.NewId(), DateTimeOffset.UtcNow, EventRecorder.NewId(), [gpu]));
        Assert.InRange(gpus.Length, 100, 260);   // the watch's readings add ~110 bytes to the 4 older ones
        Assert.InRange(whole.Length, 200, 400);  // with eventId, at and runId: one outbox row, one request body
    }
}
