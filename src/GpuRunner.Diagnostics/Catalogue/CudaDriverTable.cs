using System.Globalization;

namespace GpuRunner.Diagnostics.Catalogue;

public sealed record CudaDriverFile
{
    public string? Schema { get; init; }
    public string? Source { get; init; }
    public IReadOnlyList<CudaMajor>? Majors { get; init; }
    public IReadOnlyList<CudaRelease>? Releases { get; init; }
}

public sealed record CudaMajor
{
    public int Major { get; init; }
    public string? MinorCompatDriver { get; init; }
    public string? Source { get; init; }
}

public sealed record CudaRelease
{
    public string Cuda { get; init; } = "";
    public string MinDriver { get; init; } = "";
    public string? Source { get; init; }
}

/// <summary>A CUDA version "major.minor" (what cuDriverGetVersion and wheel tags such as cu121 name).</summary>
public readonly record struct CudaVersion(int Major, int Minor) : IComparable<CudaVersion>
{
    public int CompareTo(CudaVersion other) => Major != other.Major ? Major.CompareTo(other.Major) : Minor.CompareTo(other.Minor);
    public static bool operator <(CudaVersion a, CudaVersion b) => a.CompareTo(b) < 0;
    public static bool operator >(CudaVersion a, CudaVersion b) => a.CompareTo(b) > 0;
    public static bool operator <=(CudaVersion a, CudaVersion b) => a.CompareTo(b) <= 0;
    public static bool operator >=(CudaVersion a, CudaVersion b) => a.CompareTo(b) >= 0;
    public override string ToString() => $"{Major}.{Minor}";

    /// <summary>"12.1" or "12" (minor 0); null when malformed.</summary>
    public static CudaVersion? TryParse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        var parts = text.Trim().Split('.');
        if (parts.Length is < 1 or > 2) return null;
        if (!int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var major) || major is < 1 or > 99) return null;
        var minor = 0;
        if (parts.Length == 2 && !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out minor)) return null;
        return new CudaVersion(major, minor);
    }

    /// <summary>cuDriverGetVersion's integer (12020 = 12.2).</summary>
    public static CudaVersion FromDriverInteger(int value) => new(value / 1000, value % 1000 / 10);
}

/// <summary>requirements/cuda-driver.json: CUDA release → minimum Linux driver, and per-major compatibility floors.</summary>
public sealed class CudaDriverTable
{
    public IReadOnlyList<CudaRelease> Releases { get; }
    public IReadOnlyList<CudaMajor> Majors { get; }

    private CudaDriverTable(IReadOnlyList<CudaRelease> releases, IReadOnlyList<CudaMajor> majors)
    {
        Releases = releases;
        Majors = majors;
    }

    public static CudaDriverTable LoadDefault() => FromJson(EmbeddedData.Read("cuda-driver.json"), "built-in cuda-driver.json");

    public static CudaDriverTable FromJson(string json, string what)
    {
        var file = HardwareCatalogue.Parse(json, what, CatalogueJsonContext.Default.CudaDriverFile);
        if (file.Releases is not { Count: > 0 } releases) throw new CatalogueException($"{what}: no \"releases\"");
        foreach (var r in releases)
            if (CudaVersion.TryParse(r.Cuda) is null || string.IsNullOrWhiteSpace(r.MinDriver))
                throw new CatalogueException($"{what}: release '{r.Cuda}' needs a version like 12.1 and a minDriver");
        return new CudaDriverTable(releases, file.Majors ?? []);
    }

    /// <summary>The release entry for exactly this version, or null (e.g. 12.7, which NVIDIA never shipped).</summary>
    public CudaRelease? Find(CudaVersion v) => Releases.FirstOrDefault(r => CudaVersion.TryParse(r.Cuda) == v);

    public CudaMajor? FindMajor(int major) => Majors.FirstOrDefault(m => m.Major == major);

    /// <summary>
    /// The newest CUDA release whose minimum driver is at or below <paramref name="driverVersion"/> ("580.159.04"):
    /// a floor, used only when the driver itself cannot be asked (a newer driver may support more than the table knows).
    /// </summary>
    public CudaVersion? HighestCudaFor(string driverVersion)
    {
        if (GpuRunner.Diagnostics.Requirements.PackageVersion.TryParse(driverVersion) is not { } driver) return null;
        return Releases
            .Where(r => GpuRunner.Diagnostics.Requirements.PackageVersion.TryParse(r.MinDriver) is { } min && min.CompareTo(driver) <= 0)
            .Select(r => CudaVersion.TryParse(r.Cuda)!.Value)
            .OrderDescending().Cast<CudaVersion?>().FirstOrDefault();
    }

    /// <summary>The newest release the table knows.</summary>
    public CudaVersion Newest => Releases.Select(r => CudaVersion.TryParse(r.Cuda)!.Value).Max();
}
