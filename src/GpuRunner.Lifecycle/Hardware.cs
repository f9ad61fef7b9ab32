namespace GpuRunner.Lifecycle;

public sealed record Accelerator(string Type, string Model, int Quantity, string Vram, string Manufacturer);

/// <summary>One hardware flavor and its price. A price of 0 marks free hardware (cpu-basic): it sleeps after a fixed
/// time and accepts no custom sleep time.</summary>
public sealed record Flavor(string Id, string PrettyName, string Cpu, string Ram, string Disk, Accelerator? Accelerator,
    long HourlyMicroUsd)
{
    public bool IsFree => HourlyMicroUsd == 0;
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
