using GpuRunner.Cli.Infrastructure;
using GpuRunner.Client;
using GpuRunner.Diagnostics.Catalogue;
using GpuRunner.Diagnostics.Smoke;

namespace GpuRunner.Cli.Exec;

/// <summary>
/// Composition for `exec` and `report`: which device checks and GPU sampler are used, where the outbox lives, and
/// how the runner's output is wired to the console. The one place to change when the verify pipeline and NVML
/// sampling are available.
/// </summary>
public static class ExecServices
{
    /// <summary>Tests swap the device checks (a fixed verdict) without touching the commands.</summary>
    public static Func<RunnerLog, IDeviceReporter>? DeviceReporterOverride { get; set; }

    public static IDeviceReporter DeviceReporter(RunnerLog log, bool verbose = false) =>
        DeviceReporterOverride?.Invoke(log) ?? new VerifyDeviceReporter(log, verbose);

    public static IHeartbeatSampler HeartbeatSampler(RunnerLog log) => new NvmlHeartbeatSampler(log.Line);

    /// <summary>Tests swap the GPUs the smoke test sees (a host-memory double) without touching the commands.</summary>
    public static Func<ISmokeBackend>? SmokeBackendOverride { get; set; }

    /// <summary>The smoke test before the app starts; null for --smoke never. It asks the core (when there is one)
    /// which hardware was proven, with its own short timeout.</summary>
    public static SmokeOnStart? SmokeTest(SmokePolicy policy, CoreSettings? core, RunnerLog log, Func<HttpClient?>? http = null)
    {
        if (policy == SmokePolicy.Never) return null;
        Func<CancellationToken, Task<SmokeBaseline>>? baseline = null;
        if (core is not null)
            baseline = async ct =>
            {
                using var client = new RunnerClient(core.Url, core.Space, core.Token, http?.Invoke(), SmokeOnStart.BaselineTimeout);
                return await client.GetSmokeBaselineAsync(ct);
            };
        HardwareCatalogue catalogue;
        try { catalogue = HardwareCatalogue.Resolve(null); }
        catch (CatalogueException e) { throw new CommandException(e.Message); }
        return new SmokeOnStart(policy, baseline, SmokeBackendOverride ?? SmokeBackends.Open, catalogue, log,
            Path.Combine(DataDirectory.Resolve(), "smoke"));
    }

    /// <summary>The data directory, then a per-user temp folder (a read-only image), then memory.</summary>
    public static IEnumerable<string> OutboxDirectories() =>
    [
        DataDirectory.Resolve(),
        Path.Combine(Path.GetTempPath(), $"gpurunner-{Environment.UserName}"),
    ];

    /// <summary>Raw byte streams for the real console (the app's output must pass unchanged); writers for tests.</summary>
    public static ExecIO IOFor(IConsole console)
    {
        if (console is SystemConsole)
        {
            var log = new RunnerLog(Console.Error);
            return new ExecIO(Console.OpenStandardOutput(), Console.OpenStandardError(), log, !Console.IsInputRedirected);
        }
        return new ExecIO(new TextWriterStream(console.Out), new TextWriterStream(console.Error), new RunnerLog(console.Error), false);
    }

    /// <summary>The client `exec` asks the core's decisions with (GET desired), or null without a core.</summary>
    public static RunnerClient? DesiredClient(CoreSettings? core) => core is null ? null : new RunnerClient(core.Url, core.Space, core.Token);

    /// <summary>The recorder for a run: to the core through the outbox, or local logging only.</summary>
    public static EventRecorder Recorder(CoreSettings? core, RunnerLog log, Func<HttpClient?>? http = null)
    {
        if (core is null)
        {
            log.Line($"no core configured (--core or {CoreSettings.UrlVariable}): the app runs and its stages are only logged here");
            return EventRecorder.LocalOnly(log);
        }
        var outbox = Outbox.OpenOrFallback(OutboxDirectories(), Outbox.TargetOf(core.Url, core.Space), log.Line);
        var client = new RunnerClient(core.Url, core.Space, core.Token, http?.Invoke());
        log.Line($"reporting to {core.Url} as {core.Space} (outbox {outbox.Location})");
        return EventRecorder.ForCore(outbox, client.SendAsync, log, sendBatch: client.SendBatchAsync);
    }
}
