using System.Globalization;
using GpuRunner.Diagnostics.Report;

namespace GpuRunner.Diagnostics.Inventory;

/// <summary>The fields detect must agree with nvidia-smi on, per GPU.</summary>
public sealed record SmiGpu(string Name, string Uuid, string PciBusId, long MemoryTotalMiB, string? ComputeCapability);

/// <summary>What nvidia-smi reports: driver, CUDA version and the GPUs.</summary>
public sealed record SmiReport(string DriverVersion, string? CudaVersion, IReadOnlyList<SmiGpu> Gpus);

/// <summary>
/// Parses nvidia-smi's outputs so detect can be checked against the tool users trust (GPU tests, bench script,
/// fixtures). No nvidia-smi is ever run from here.
/// </summary>
public static class NvidiaSmi
{
    /// <summary>The --query-gpu fields, in this order, that <see cref="ParseQueryCsv"/> reads.</summary>
    public const string QueryFields = "name,uuid,pci.bus_id,memory.total,driver_version,compute_cap";

    /// <summary>`nvidia-smi --query-gpu=QueryFields --format=csv,noheader` (units in the memory field allowed).</summary>
    public static SmiReport ParseQueryCsv(string csv)
    {
        var gpus = new List<SmiGpu>();
        string? driver = null;
        foreach (var raw in csv.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var f = raw.Split(',', StringSplitOptions.TrimEntries);
            if (f.Length != 6) throw new FormatException($"expected 6 fields ({QueryFields}), got {f.Length}: {raw}");
            gpus.Add(new SmiGpu(f[0], f[1], f[2], ParseMiB(f[3]), f[5]));
            driver = f[4];
        }
        return new SmiReport(driver ?? throw new FormatException("no GPU line"), null, gpus);
    }

    /// <summary>`nvidia-smi -q`: the top-level versions and each GPU's name, UUID, bus id and FB memory total.</summary>
    public static SmiReport ParseQ(string text)
    {
        string? driver = null, cuda = null;
        var gpus = new List<SmiGpu>();
        string? name = null, uuid = null, bus = null;
        long? total = null;
        string? section = null;
        void Flush()
        {
            if (bus is not null) gpus.Add(new SmiGpu(name ?? "", uuid ?? "", bus, total ?? -1, null));
            (name, uuid, bus, total) = (null, null, null, null);
        }
        foreach (var line in text.Split('\n'))
        {
            var indent = line.Length - line.TrimStart().Length;
            var trimmed = line.Trim();
            if (indent == 0 && trimmed.StartsWith("GPU ", StringComparison.Ordinal)) { Flush(); bus = trimmed[4..]; continue; }
            var colon = trimmed.IndexOf(':');
            if (colon < 0) { if (indent == 4) section = trimmed; continue; }
            var key = trimmed[..colon].Trim();
            var value = trimmed[(colon + 1)..].Trim();
            if (indent == 0 && key == "Driver Version") driver = value;
            else if (indent == 0 && key == "CUDA Version") cuda = value;
            else if (indent == 4 && key == "Product Name") name = value;
            else if (indent == 4 && key == "GPU UUID") uuid = value;
            else if (indent == 8 && key == "Total" && section == "FB Memory Usage") total = ParseMiB(value);
        }
        Flush();
        return new SmiReport(driver ?? throw new FormatException("no Driver Version line"), cuda, gpus);
    }

    /// <summary>Every field where detect's report differs from nvidia-smi's, as "field: detect X, nvidia-smi Y".</summary>
    public static List<string> Differences(DeviceReport detect, SmiReport smi)
    {
        var diffs = new List<string>();
        void Same(string field, object? ours, object? theirs)
        {
            if (theirs is null) return; // nvidia-smi's output did not carry this field
            if (!string.Equals(Convert.ToString(ours, CultureInfo.InvariantCulture), Convert.ToString(theirs, CultureInfo.InvariantCulture), StringComparison.Ordinal))
                diffs.Add($"{field}: detect {ours ?? "null"}, nvidia-smi {theirs}");
        }
        Same("driverVersion", detect.Driver.DriverVersion, smi.DriverVersion);
        Same("cudaDriverVersion", detect.Driver.CudaDriverVersion, smi.CudaVersion);
        Same("gpu count", detect.Gpus.Count, smi.Gpus.Count);
        foreach (var (ours, theirs) in detect.Gpus.Zip(smi.Gpus))
        {
            var i = ours.Index;
            Same($"gpu {i} name", ours.Name, theirs.Name);
            Same($"gpu {i} uuid", ours.Uuid, theirs.Uuid);
            Same($"gpu {i} pciBusId", ours.PciBusId, theirs.PciBusId);
            Same($"gpu {i} memoryTotalMiB", ours.MemoryTotalMiB, theirs.MemoryTotalMiB);
            Same($"gpu {i} computeCapability", ours.ComputeCapability, theirs.ComputeCapability);
        }
        return diffs;
    }

    private static long ParseMiB(string value) =>
        long.Parse(value.Replace("MiB", "", StringComparison.Ordinal).Trim(), CultureInfo.InvariantCulture);
}
