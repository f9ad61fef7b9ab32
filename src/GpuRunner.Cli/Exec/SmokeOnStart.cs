using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using GpuRunner.Cli.Smoke;
using GpuRunner.Client;
using GpuRunner.Diagnostics.Catalogue;
using GpuRunner.Diagnostics.Smoke;

namespace GpuRunner.Cli.Exec;

/// <summary>`exec --smoke`: when the hardware is smoke-tested before the app starts.</summary>
public enum SmokePolicy { Never, Changed, Always }

/// <summary>
/// Smoke-tests new hardware before the app starts (docs/upgrades.md). The core says which flavor the Space requests
/// and which hardware (flavor + GPU UUIDs) a smoke report last proved; on anything else (`--smoke changed`, the
/// default) the quick level runs against the requested flavor — or the standard level on an upgrade when the Space
/// asks for it — in APP_STARTING, so it is not billed. One line per GPU goes to the log; the report, without its
/// samples, goes to the core through the outbox; the full report (samples too) is kept in the data directory.
/// A FAIL is a platform hardware fault: the core bills nothing for the run; with --require the app does not start.
/// </summary>
public sealed class SmokeOnStart(SmokePolicy policy, Func<CancellationToken, Task<SmokeBaseline>>? baseline, Func<ISmokeBackend> open,
    HardwareCatalogue catalogue, RunnerLog log, string? reportDirectory)
{
    /// <summary>How long a starting runner waits for the core's answer before it smoke-tests to be sure.</summary>
    public static readonly TimeSpan BaselineTimeout = TimeSpan.FromSeconds(5);
    /// <summary>Errors with addresses kept per memtest in the core's copy (the count is always whole).</summary>
    public const int ErrorsSent = 8;
    /// <summary>Full reports kept in the data directory (one per smoke-tested start, a few MB at most each).</summary>
    public const int KeptReports = 20;

    /// <summary>What the last <see cref="RunAsync"/> measured (null when it did not smoke).</summary>
    public SmokeReport? Report { get; private set; }

    /// <summary>False when the app must not start: the hardware failed and <paramref name="require"/> is set.</summary>
    public async Task<bool> RunAsync(EventRecorder events, bool require)
    {
        if (policy == SmokePolicy.Never) return true;
        SmokeBaseline? known = null;
        if (baseline is null)
        {
            if (policy == SmokePolicy.Changed)
            {
                log.Line("smoke: skipped: no core to say which hardware was proven (--smoke always tests anyway)");
                return true;
            }
        }
        else
        {
            using var cts = new CancellationTokenSource(BaselineTimeout);
            try { known = await baseline(cts.Token); }
            catch (Exception e) when (e is RunnerApiException or OperationCanceledException)
            {
                log.Line($"smoke: could not ask the core which hardware was proven ({e.Message}); smoke-testing to be sure");
            }
        }

        var requested = known?.RequestedFlavor;
        var flavor = requested is null ? null : catalogue.Find(requested);
        using var backend = open();
        var devices = backend.UnavailableReason is null ? backend.Devices : [];
        if (flavor is { Gpu: null } || (flavor is null && devices.Count == 0))
        {
            // A CPU flavor pays for no GPU (one that is visible anyway is not the Space's); nothing else to test.
            log.Line(flavor is null ? "smoke: skipped: no GPU visible" : $"smoke: skipped: {requested} has no GPU to prove");
            return true;
        }
        var uuids = devices.Select(d => d.Info.Uuid ?? "").ToList();
        var (changed, why) = Compare(known, uuids);
        if (policy == SmokePolicy.Changed && !changed)
        {
            log.Line($"smoke: skipped: {why}");
            return true;
        }

        var level = known is { UpgradeLevel: "standard" } && known.VerifiedFlavor != known.RequestedFlavor ? SmokeLevel.Standard : SmokeLevel.Quick;
        events.Stage(RunnerStages.AppStarting, $"smoke-testing the hardware before the app starts ({why})");
        var identity = new SmokeIdentity(catalogue);
        var version = typeof(SmokeOnStart).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";
        var plan = SmokePlan.For(level);
        // Each check has its own limit; this only bounds a wedged driver call the per-check limits cannot interrupt.
        using var cap = new CancellationTokenSource(plan.BudgetPerGpu * Math.Max(1, devices.Count) + TimeSpan.FromSeconds(30));
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var report = await Task.Run(() => new SmokeRunner(backend, plan, identity.SpecFor)
            .Run([IdentityCheck(requested, flavor, backend)], requested, version, cap.Token));
        Report = report;
        var took = System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds;

        foreach (var g in report.Gpus) log.Line(GpuLine(report, g));
        log.Line(report.VerdictLine);
        log.Line($"smoke: {level.ToString().ToLowerInvariant()} level on {requested ?? "unknown hardware"} took {took.ToString("0.0", CultureInfo.InvariantCulture)} s " +
                 $"({report.Gpus.Count} GPU{(report.Gpus.Count == 1 ? "" : "s")}) before the app started{KeepFull(report, events.RunId)}");
        events.Smoke(ForCore(report));

        if (report.Verdict != SmokeStatus.Fail) return true;
        var failed = string.Join("; ", report.Checks.Where(c => c.Status == SmokeStatus.Fail)
            .Select(c => (c.Gpu is { } i ? $"GPU {i} " : "") + c.Id + ": " + c.Evidence));
        log.Line($"smoke: hardware FAULT ({failed}): the platform's, not the app's; the core does not bill this run");
        if (require)
        {
            log.Line("smoke FAILED and --require is set: not starting the app (exit 1)");
            return false;
        }
        log.Line("smoke FAILED: starting the app anyway (use --require to refuse); the Space page shows the fault");
        return true;
    }

    /// <summary>Whether this hardware differs from the last proven one, and the reason in words.</summary>
    internal static (bool Changed, string Why) Compare(SmokeBaseline? known, IReadOnlyList<string> uuids)
    {
        if (known is null) return (true, "the core did not say which hardware was proven");
        if (known.VerifiedFlavor is null) return (true, $"{known.RequestedFlavor} was never proven for this Space");
        if (known.VerifiedFlavor != known.RequestedFlavor)
            return (true, $"new hardware: {known.VerifiedFlavor} -> {known.RequestedFlavor}");
        if (!uuids.Order(StringComparer.Ordinal).SequenceEqual(known.VerifiedGpuUuids.Order(StringComparer.Ordinal)))
            return (true, $"same flavor {known.RequestedFlavor}, other GPUs ({string.Join(", ", uuids)}; proven: {string.Join(", ", known.VerifiedGpuUuids)})");
        return (false, $"{known.RequestedFlavor} on these GPUs was proven by run {known.VerifiedRunId} at {known.VerifiedAt}");
    }

    /// <summary>The GPUs against the requested flavor's (model, count): a wrong card is a FAIL, not a slow PASS.</summary>
    private SmokeCheckResult IdentityCheck(string? requested, Flavor? flavor, ISmokeBackend backend)
    {
        const string id = "identity.gpu";
        var title = $"GPUs match {requested ?? "the requested flavor"}";
        if (flavor?.Gpu is not { } want)
            return SmokeCheckResult.Skipped(id, title, null, requested is null
                ? "the requested flavor is not known (the core did not answer)"
                : $"{requested} is not in this runner's catalogue, or has no GPU");
        var devices = backend.UnavailableReason is null ? backend.Devices : [];
        var found = devices.Select(d => catalogue.IdentifyGpu(d.Info.Name)?.Model ?? d.Info.Name).ToList();
        var ok = found.Count == want.Count && found.All(m => string.Equals(m, want.Model, StringComparison.OrdinalIgnoreCase));
        var foundText = devices.Count == 0 ? $"no GPU ({backend.UnavailableReason ?? "none visible"})"
            : string.Join(", ", devices.GroupBy(d => d.Info.Name).Select(g => $"{g.Count()}x {g.Key}"));
        return new SmokeCheckResult
        {
            Id = id, Title = title, Status = ok ? SmokeStatus.Pass : SmokeStatus.Fail,
            Evidence = $"{requested} is {want.Count}x {want.Model}; found {foundText}",
            Diagnosis = ok ? null : new SmokeDiagnosis("the machine does not have the GPUs the Space pays for", "the platform must move the Space to the requested hardware"),
        };
    }

    /// <summary>"smoke GPU 0 NVIDIA A10G (GPU-…): PASS | bandwidth 540 GB/s 90 % | gemm 101 TFLOP/s 81 % | memtest 5.5 GiB 0 errors | 9.1 s".</summary>
    internal static string GpuLine(SmokeReport r, SmokeGpuReport g)
    {
        var checks = r.Checks.Where(c => c.Gpu == g.Index && c.Peer is null).ToList();
        string Fig(string check, string label)
        {
            var c = checks.FirstOrDefault(x => x.Id == check);
            if (c is null || c.Value is null) return $"{label} {(c is null ? "-" : c.Status.ToString().ToUpperInvariant())}";
            var pct = c.PercentOfSpec is { } p ? $" {p.ToString("0", CultureInfo.InvariantCulture)} %" : "";
            var errors = c.ErrorCount is { } e ? $" {e} errors" : "";
            return $"{label} {c.Value.Value.ToString(c.Value >= 100 ? "0" : "0.#", CultureInfo.InvariantCulture)} {c.Unit}{pct}{errors}";
        }
        var seconds = checks.Sum(c => c.Seconds);
        return $"smoke GPU {g.Index} {g.Name} ({g.Uuid ?? "no uuid"}): {SmokeVerdict.Word(g.Status)} | {Fig("bandwidth.d2d", "bandwidth")} | " +
               $"{Fig("compute.gemm", "gemm")} | {Fig("memtest", "memtest")} | {seconds.ToString("0.0", CultureInfo.InvariantCulture)} s";
    }

    /// <summary>
    /// The report as the core keeps it (docs/contracts.md "Smoke reports"): no samples, the first few memtest errors
    /// with their addresses (the count stays whole), a short trace. Bounded well under the core's limit.
    /// </summary>
    internal static JsonElement ForCore(SmokeReport report)
    {
        var node = JsonNode.Parse(JsonSerializer.Serialize(report, SmokeJsonContext.Default.SmokeReport))!.AsObject();
        foreach (var c in node["checks"]!.AsArray().OfType<JsonObject>())
        {
            c.Remove("samples");
            if (c["errors"] is JsonArray errors)
                while (errors.Count > ErrorsSent) errors.RemoveAt(errors.Count - 1);
            if (c["evidence"]?.GetValue<string>() is { Length: > 400 } ev) c["evidence"] = ev[..397] + "...";
        }
        if (node["trace"] is JsonArray trace)
            while (trace.Count > 12) trace.RemoveAt(trace.Count - 1);
        using var doc = JsonDocument.Parse(node.ToJsonString());
        return doc.RootElement.Clone();
    }

    /// <summary>Keeps the whole report (samples too) next to the outbox; says where, or nothing when it cannot.</summary>
    private string KeepFull(SmokeReport report, string runId)
    {
        if (reportDirectory is null) return "";
        try
        {
            Directory.CreateDirectory(reportDirectory);
            var path = Path.Combine(reportDirectory, $"smoke-{runId}.json");
            File.WriteAllText(path, JsonSerializer.Serialize(report, SmokeJsonContext.Default.SmokeReport));
            // Bounded: the newest reports only (run ids are time-ordered, so names sort by age).
            foreach (var old in Directory.GetFiles(reportDirectory, "smoke-*.json").Order(StringComparer.Ordinal).SkipLast(KeptReports))
                File.Delete(old);
            return $"; full report: {path}";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"; full report not kept ({e.Message})";
        }
    }
}
