using System.Globalization;

namespace GpuRunner.Lifecycle;

public sealed record Accelerator(string Type, string Model, int Quantity, string Vram, string Manufacturer)
{
    /// <summary>Nominal memory per GPU in GB (10^9 bytes), read from <see cref="Vram"/> ("16 GB"); null if unknown.</summary>
    public double? VramGB => Figures.Leading(Vram);
}

/// <summary>One hardware flavor and its price. A price of 0 marks free hardware (cpu-basic): it sleeps after a fixed
/// time and accepts no custom sleep time.</summary>
public sealed record Flavor(string Id, string PrettyName, string Cpu, string Ram, string Disk, Accelerator? Accelerator,
    long HourlyMicroUsd)
{
    public bool IsFree => HourlyMicroUsd == 0;
    /// <summary>vCPUs, read from <see cref="Cpu"/> ("4 vCPU"); null if unknown ("-").</summary>
    public double? Vcpu => Figures.Leading(Cpu);
    /// <summary>RAM in GB (10^9 bytes), read from <see cref="Ram"/> ("15 GB"); null if unknown.</summary>
    public double? RamGB => Figures.Leading(Ram);
}

/// <summary>One GPU as a runner's device report describes it: NVML's name and total memory (MiB).</summary>
public sealed record GpuFact(string Name, long? MemoryMiB);

/// <summary>
/// The hardware facts of a runner's device report (docs/contracts.md: `gpus[].name`, `gpus[].memoryTotalMiB`,
/// `host.vcpu`, `host.memoryBytes`). The core prices them against its own catalogue; the runner's tier name, made
/// from the runner's catalogue, is only shown. A null figure was not reported and is not compared.
/// </summary>
public sealed record DeviceFacts(IReadOnlyList<GpuFact> Gpus, int? Vcpu, long? MemoryBytes)
{
    public bool Equals(DeviceFacts? other) =>
        other is not null && Vcpu == other.Vcpu && MemoryBytes == other.MemoryBytes && Gpus.SequenceEqual(other.Gpus);

    public override int GetHashCode() => HashCode.Combine(Vcpu, MemoryBytes, Gpus.Count);

    /// <summary>"1x Tesla T4 15360 MiB, 8 vCPU, 30.0 GB RAM" (for summaries).</summary>
    public string Describe()
    {
        var parts = new List<string>();
        parts.Add(Gpus.Count == 0 ? "no GPU" : string.Join(" + ", Gpus.GroupBy(g => (g.Name, g.MemoryMiB))
            .Select(g => $"{g.Count()}x {g.Key.Name}{(g.Key.MemoryMiB is { } m ? $" {m} MiB" : "")}")));
        if (Vcpu is { } v) parts.Add($"{v} vCPU");
        if (MemoryBytes is { } b) parts.Add((b / 1e9).ToString("0.0", CultureInfo.InvariantCulture) + " GB RAM");
        return string.Join(", ", parts);
    }
}

internal static class Figures
{
    /// <summary>The number a figure string starts with ("12 vCPU" -> 12, "142 GB" -> 142), or null ("-").</summary>
    public static double? Leading(string? s)
    {
        if (string.IsNullOrEmpty(s)) return null;
        var n = 0;
        while (n < s.Length && (char.IsAsciiDigit(s[n]) || s[n] == '.')) n++;
        return n > 0 && double.TryParse(s.AsSpan(0, n), NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : null;
    }
}

/// <summary>
/// The hardware catalogue the domain prices with. The domain never reads files: the caller passes the catalogue
/// (built from requirements/tiers.json when present, else <see cref="Default"/>, the source document's table).
/// </summary>
public sealed class HardwareCatalogue
{
    private readonly Dictionary<string, Flavor> _byId;

    public IReadOnlyList<Flavor> Flavors { get; }

    public HardwareCatalogue(IEnumerable<Flavor> flavors)
    {
        Flavors = flavors.ToArray();
        _byId = new Dictionary<string, Flavor>(StringComparer.Ordinal);
        foreach (var f in Flavors)
        {
            if (f.HourlyMicroUsd < 0) throw new ArgumentException($"flavor {f.Id}: negative price");
            if (!_byId.TryAdd(f.Id, f)) throw new ArgumentException($"flavor {f.Id} listed twice");
        }
    }

    public Flavor? Find(string? id) => id is not null && _byId.TryGetValue(id, out var f) ? f : null;

    /// <summary>The flavor, or a 400 naming the known ones.</summary>
    public Flavor Get(string? id) => Find(id) ?? throw new LifecycleException(LifecycleErrorKind.BadInput,
        $"unknown hardware flavor '{id}'; known: {string.Join(", ", Flavors.Select(f => f.Id))}");

    public const string FreeDefault = "cpu-basic";

    /// <summary>
    /// The flavors the reported hardware satisfies, by the tolerance policy of tier matching (README "Host facts and
    /// tier matching"): the same number of GPUs (none for a CPU flavor), each of the flavor's model
    /// (<see cref="NamesModel"/>) with at least 90 % of its nominal memory; at least the flavor's vCPUs; at least 90 %
    /// of its RAM. Disk is not compared. Unknown figures, on either side, are not compared.
    /// </summary>
    public IReadOnlyList<Flavor> Satisfied(DeviceFacts facts) => Flavors.Where(f => Satisfies(f, facts)).ToList();

    public static bool Satisfies(Flavor f, DeviceFacts facts)
    {
        var a = f.Accelerator;
        if (facts.Gpus.Count != (a?.Quantity ?? 0)) return false;
        if (a is not null && facts.Gpus.Any(g => !NamesModel(g.Name, a.Model)
                                                 || (g.MemoryMiB is { } mib && a.VramGB is { } gb && mib * 1_048_576.0 < 0.9 * gb * 1e9)))
            return false;
        if (facts.Vcpu is { } v && f.Vcpu is { } need && v < need) return false;
        if (facts.MemoryBytes is { } b && f.RamGB is { } ram && b < 0.9 * ram * 1e9) return false;
        return true;
    }

    /// <summary>
    /// Whether an NVML name ("Tesla T4", "NVIDIA A100-SXM4-40GB", "NVIDIA H100 80GB HBM3") is of a catalogue model
    /// ("T4", "A100"): the model's words appear as whole consecutive words of the name (split at spaces, '-' and '_'),
    /// ignoring case — so "NVIDIA L40S" is an L40S and not an L4, and an "A10" is not an "A10G".
    /// </summary>
    public static bool NamesModel(string nvmlName, string model)
    {
        static string[] Words(string s) => s.Split([' ', '-', '_'], StringSplitOptions.RemoveEmptyEntries);
        var name = Words(nvmlName);
        var want = Words(model);
        if (want.Length == 0) return false;
        for (var i = 0; i + want.Length <= name.Length; i++)
            if (want.Select((w, k) => string.Equals(w, name[i + k], StringComparison.OrdinalIgnoreCase)).All(x => x)) return true;
        return false;
    }

    private static Accelerator Gpu(string model, string vram, int n = 1) => new("gpu", model, n, vram, "Nvidia");

    /// <summary>The source document's table (spaces-gpus.md "Hardware table").</summary>
    public static HardwareCatalogue Default { get; } = new([
        new("cpu-basic", "CPU basic", "2 vCPU", "16 GB", "50 GB", null, 0),
        new("cpu-upgrade", "CPU upgrade", "8 vCPU", "32 GB", "50 GB", null, 30_000),
        new("t4-small", "Nvidia T4 - small", "4 vCPU", "15 GB", "50 GB", Gpu("T4", "16 GB"), 600_000),
        new("t4-medium", "Nvidia T4 - medium", "8 vCPU", "30 GB", "100 GB", Gpu("T4", "16 GB"), 900_000),
        new("a10g-small", "Nvidia A10G - small", "4 vCPU", "15 GB", "110 GB", Gpu("A10G", "24 GB"), 1_050_000),
        new("a10g-large", "Nvidia A10G - large", "12 vCPU", "46 GB", "200 GB", Gpu("A10G", "24 GB"), 3_150_000),
        new("a100-large", "Nvidia A100 - large", "12 vCPU", "142 GB", "1000 GB", Gpu("A100", "40 GB"), 4_130_000),
    ]);
}
