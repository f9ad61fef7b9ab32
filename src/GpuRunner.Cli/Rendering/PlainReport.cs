using System.Globalization;
using GpuRunner.Diagnostics.Catalogue;
using GpuRunner.Diagnostics.Checks;
using GpuRunner.Diagnostics.Host;
using GpuRunner.Diagnostics.Report;

namespace GpuRunner.Cli.Rendering;

/// <summary>
/// Greppable lines for container logs: one line per fact or check, causes and fixes indented below. The driver
/// search trace is shown where a driver was expected and none loaded, or with <paramref name="verbose"/>.
/// </summary>
public sealed class PlainReport(TextWriter output, bool verbose = false)
{
    private const string Indent = "      ";

    public static void WriteInventory(TextWriter output, DeviceReport report, CheckOutcome? failure, bool verbose = false)
    {
        var plain = new PlainReport(output, verbose);
        plain.WriteDriver(report.Driver, failure);
        foreach (var gpu in report.Gpus) plain.WriteGpu(gpu);
        if (report.Driver.Loaded && failure is null && report.Gpus.Count == 0) output.WriteLine("gpu     none: NVML lists no GPU");
        plain.WriteHost(report.Host);
        plain.WriteTier(report.Tier);
    }

    public void WriteDriver(DriverReport driver, CheckOutcome? failure)
    {
        if (!driver.Loaded)
        {
            // detect expects nothing: a host without a driver is a CPU host, and the places searched are detail.
            if (!verbose)
            {
                output.WriteLine($"driver  no NVIDIA driver: a CPU-only host (libnvidia-ml.so.1 does not load; {driver.SearchTrace.Count} places searched, --verbose lists them)");
                return;
            }
            output.WriteLine("driver  no NVIDIA driver found (libnvidia-ml.so.1 does not load): CUDA is unavailable on this machine. Looked in:");
            foreach (var line in driver.SearchTrace) output.WriteLine($"{Indent}{line}");
            return;
        }
        if (failure is not null)
        {
            output.WriteLine($"driver  {driver.NvmlLibrary} loads but NVML fails: {failure.Evidence}");
            WriteDiagnosis(failure.Diagnosis);
            return;
        }
        output.WriteLine($"driver  NVIDIA {driver.DriverVersion}, CUDA {driver.CudaDriverVersion} (NVML from {driver.NvmlLibrary})");
    }

    public void WriteGpu(GpuReport g)
    {
        output.WriteLine($"gpu {g.Index}   {g.Name ?? "n/a"} · {Mib(g.MemoryTotalMiB)} · cc {g.ComputeCapability ?? "n/a"} · {g.Uuid ?? "n/a"} · {g.PciBusId ?? "n/a"}");
        output.WriteLine($"{Indent}mem used {Mib(g.MemoryUsedMiB)}, reserved {Mib(g.MemoryReservedMiB)}, free {Mib(g.MemoryFreeMiB)} · MIG {g.MigMode ?? "n/a"} · persistence {g.PersistenceMode ?? "n/a"} · " +
            $"{N(g.TemperatureC)} C · {N(g.PowerDrawW)} W of {N(g.PowerLimitW)} W · SM {N(g.Clocks.SmMHz)}/{N(g.Clocks.SmMaxMHz)} MHz · mem {N(g.Clocks.MemMHz)}/{N(g.Clocks.MemMaxMHz)} MHz");
        output.WriteLine($"{Indent}ECC {g.Ecc.Mode ?? "n/a"} (uncorrected {N(g.Ecc.VolatileUncorrected)} volatile, {N(g.Ecc.AggregateUncorrected)} aggregate) · " +
            $"retired pages {N(g.RetiredPages.SingleBit)}/{N(g.RetiredPages.DoubleBit)}{(g.RetiredPages.Pending == true ? " (pending)" : "")} · " +
            $"row remap {N(g.RowRemap.Corrected)}/{N(g.RowRemap.Uncorrected)}{(g.RowRemap.Pending == true ? " (pending)" : "")} · " +
            $"PCIe gen {N(g.Pcie.Gen)} x{N(g.Pcie.Width)} (max gen {N(g.Pcie.GenMax)} x{N(g.Pcie.WidthMax)}) · " +
            $"throttle {(g.ThrottleReasons is null ? "n/a" : g.ThrottleReasons.Count == 0 ? "none" : string.Join(",", g.ThrottleReasons))}");
        if (g.Unsupported.Count > 0)
            output.WriteLine($"{Indent}n/a: {string.Join(", ", g.Unsupported.Select(u => $"{u.Field} ({u.Code})"))}");
    }

    public void WriteHost(HostFacts? host)
    {
        if (host is null) return;
        var disks = host.Disks.Count == 0 ? "" : " · disk " + string.Join(", ", host.Disks.Select(d => $"{d.Path} {Gib(d.FreeBytes)} free of {Gib(d.TotalBytes)}"));
        output.WriteLine($"host    {host.Vcpu} vCPU ({host.VcpuSource}) · {(host.MemoryBytes is { } m ? Gib(m) : "n/a")} RAM ({host.MemorySource}){disks}" +
            (host.Os is null ? "" : $" · {host.Os}") + (host.Container.Detected ? " · in a container" : ""));
    }

    public void WriteTier(TierMatch? tier) =>
        output.WriteLine($"tier    {tier?.Summary ?? "unknown: no hardware catalogue available"}");

    public void WriteCheck(CheckResult r, DeviceReport report)
    {
        output.WriteLine($"{Status(r.Status),-5} {r.Id,-15} {r.Outcome.Evidence}  ({r.Seconds.ToString("0.00", CultureInfo.InvariantCulture)} s)");
        if (r.Status is CheckStatus.Fail or CheckStatus.Warn) WriteDiagnosis(r.Outcome.Diagnosis);
        if (ShowsTrace(r, verbose))
        {
            output.WriteLine($"{Indent}looked in:");
            foreach (var line in report.Driver.SearchTrace) output.WriteLine($"{Indent}  {line}");
        }
    }

    public void WriteVerdict(IReadOnlyList<CheckResult> results, string verdict)
    {
        int Count(CheckStatus s) => results.Count(r => r.Status == s);
        output.WriteLine($"verdict {verdict}: {Count(CheckStatus.Pass)} passed, {Count(CheckStatus.Warn)} warned, {Count(CheckStatus.Fail)} failed, {Count(CheckStatus.Skip)} skipped");
    }

    private void WriteDiagnosis(Diagnosis? d)
    {
        if (d is null) return;
        output.WriteLine($"{Indent}cause: {d.Name}: {d.Cause}");
        output.WriteLine($"{Indent}fix:   {d.Fix}");
    }

    /// <summary>The places searched for the driver are worth reading when a driver was expected (FAIL/WARN), or asked for.</summary>
    public static bool ShowsTrace(CheckResult r, bool verbose) =>
        r.Id == "driver.library" && (r.Status is CheckStatus.Fail or CheckStatus.Warn || (verbose && r.Status != CheckStatus.Pass));

    public static string Status(CheckStatus s) => s.ToString().ToUpperInvariant();
    private static string N<T>(T? v) where T : struct => v is null ? "n/a" : Convert.ToString(v, CultureInfo.InvariantCulture)!;
    private static string Mib(long? mib) => mib is null ? "n/a" : $"{mib} MiB";
    private static string Gib(long bytes) => $"{(bytes / (double)(1L << 30)).ToString("0.0", CultureInfo.InvariantCulture)} GiB";
}
