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
