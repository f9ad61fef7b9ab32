using System.Text.Json;

namespace GpuRunner.Core.Pages;

/// <summary>What the Space page shows of the runner's last device report (docs/contracts.md, `verify --json`).</summary>
internal sealed record DeviceSummary(long AtMs, string? RunId, IReadOnlyList<string> Gpus, string? Driver, string? Cuda,
    string? Verdict, string? TierFlavor, string? TierSummary, IReadOnlyList<(string Id, string Status, string Evidence)> Problems)
{
    /// <summary>Reads the fields leniently: a report from an older or newer runner still shows what it has.</summary>
    public static DeviceSummary? Parse(string? json, long atMs, string? runId)
    {
        if (string.IsNullOrEmpty(json)) return null;
        try
        {
            using var doc = JsonDocument.Parse(json);
            var r = doc.RootElement;
            if (r.ValueKind != JsonValueKind.Object) return null;
            var gpus = new List<string>();
            if (r.TryGetProperty("gpus", out var g) && g.ValueKind == JsonValueKind.Array)
                foreach (var gpu in g.EnumerateArray())
                {
                    if (gpu.ValueKind != JsonValueKind.Object) continue;
                    var name = Str(gpu, "name") ?? "GPU";
                    var mem = gpu.TryGetProperty("memoryTotalMiB", out var m) && m.ValueKind == JsonValueKind.Number && m.TryGetInt64(out var mib) ? $" · {mib / 1024.0:0.#} GiB" : "";
                    var cc = Str(gpu, "computeCapability") is { } c ? $" · sm {c}" : "";
                    gpus.Add(name + mem + cc);
                }
            string? driver = null, cuda = null;
            if (r.TryGetProperty("driver", out var d) && d.ValueKind == JsonValueKind.Object)
                (driver, cuda) = (Str(d, "driverVersion"), Str(d, "cudaDriverVersion"));
            string? flavor = null, summary = null;
            if (r.TryGetProperty("tier", out var t) && t.ValueKind == JsonValueKind.Object)
                (flavor, summary) = (Str(t, "flavor"), Str(t, "summary"));
            var problems = new List<(string, string, string)>();
            if (r.TryGetProperty("checks", out var cs) && cs.ValueKind == JsonValueKind.Array)
                foreach (var c in cs.EnumerateArray())
                    if (Str(c, "status") is "FAIL" or "WARN")
                        problems.Add((Str(c, "id") ?? "?", Str(c, "status")!, Str(c, "evidence") ?? ""));
            return new DeviceSummary(atMs, runId, gpus, driver, cuda, Str(r, "verdict"), flavor, summary, problems);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            return null; // stored data the page cannot read (from before the core validated reports): shown as none
        }
    }

    private static string? Str(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
}
