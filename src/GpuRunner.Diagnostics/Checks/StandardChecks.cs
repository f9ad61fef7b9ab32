namespace GpuRunner.Diagnostics.Checks;

/// <summary>The native checks of `verify`, in order. Other parts append theirs (frameworks, models, smoke).</summary>
public static class StandardChecks
{
    public static List<ICheck> Create() =>
    [
        new DriverLibraryCheck(),
        new NvmlInitCheck(),
        new CudaInitCheck(),
        new DeviceVisibleCheck(),
        new GpuHealthCheck(),
        new CudaMemoryCheck(),
        new KernelCheck(),
        new TierCheck(),
    ];

    /// <summary>PASS unless a check failed (FAIL) or warned (WARN); SKIPs do not count.</summary>
    public static string Verdict(IEnumerable<CheckResult> results)
    {
        var statuses = results.Select(r => r.Status).ToList();
        return statuses.Contains(CheckStatus.Fail) ? "FAIL" : statuses.Contains(CheckStatus.Warn) ? "WARN" : "PASS";
    }
}

public static class CheckSelection
{
    public const string NativeGroup = "native";
    private static readonly string[] NativeIds = [.. StandardChecks.Create().Select(c => c.Id)];

    /// <summary>
    /// The checks to run for `--only a,b`: the selected ones plus (transitively) what they require, in list order.
    /// Throws ArgumentException naming the unknown ids.
    /// </summary>
    public static (List<ICheck> Run, HashSet<string> Shown) Select(IReadOnlyList<ICheck> all, IReadOnlyCollection<string> only)
    {
        if (only.Count == 0) return (all.ToList(), all.Select(c => c.Id).ToHashSet());
        var byId = all.ToDictionary(c => c.Id);
        // A group name (torch, onnx, python, model) stands for every check whose id starts with "group."; "native"
        // for the driver/CUDA checks alone: the sub-second path for an entrypoint (Python snippets take seconds).
        only = [.. only.SelectMany(id => byId.ContainsKey(id) ? [id]
            : id == NativeGroup ? NativeIds.Where(byId.ContainsKey)
            : all.Where(c => c.Id.StartsWith(id + ".", StringComparison.Ordinal)).Select(c => c.Id).DefaultIfEmpty(id))];
        var unknown = only.Where(id => !byId.ContainsKey(id)).ToList();
        if (unknown.Count > 0)
            throw new ArgumentException($"unknown check {string.Join(", ", unknown)}{Text.Suggestions.Hint(unknown[0], all.Select(c => c.Id))}; " +
                $"known: {string.Join(", ", all.Select(c => c.Id))} and the groups {NativeGroup}, {string.Join(", ", Frameworks.FrameworkChecks.Groups)}");
        var needed = new HashSet<string>();
        void Add(string id)
        {
            if (!needed.Add(id) || !byId.TryGetValue(id, out var check)) return;
            foreach (var r in check.Requires) Add(r);
        }
        foreach (var id in only) Add(id);
        return (all.Where(c => needed.Contains(c.Id)).ToList(), only.ToHashSet());
    }
}
