using GpuRunner.Diagnostics.Catalogue;

namespace GpuRunner.Diagnostics.Requirements;

public sealed record WheelsFile
{
    public string? Schema { get; init; }
    public TorchTable? Torch { get; init; }
    public TensorflowTable? Tensorflow { get; init; }
    public JaxTable? Jax { get; init; }
    public OrtTable? OnnxruntimeGpu { get; init; }
}

public sealed record TorchTable { public string? Source { get; init; } public IReadOnlyList<TorchRelease> Versions { get; init; } = []; }
public sealed record TorchRelease
{
    public string Version { get; init; } = "";
    public string Latest { get; init; } = "";
    public string? PypiCuda { get; init; }
    public IReadOnlyList<string> IndexTags { get; init; } = [];
}
public sealed record TensorflowTable { public string? Source { get; init; } public IReadOnlyList<TensorflowRelease> Versions { get; init; } = []; }
public sealed record TensorflowRelease
{
    public string Version { get; init; } = "";
    public string Latest { get; init; } = "";
    public string Cuda { get; init; } = "";
    public string? Cudnn { get; init; }
}
public sealed record JaxTable { public string? Source { get; init; } public IReadOnlyList<JaxExtra> Extras { get; init; } = []; }
public sealed record JaxExtra
{
    public string Extra { get; init; } = "";
    public string Cuda { get; init; } = "";
    public string? LastJax { get; init; }
}
public sealed record OrtTable { public string? Source { get; init; } public IReadOnlyList<OrtRange> Versions { get; init; } = []; }
public sealed record OrtRange
{
    public string From { get; init; } = "";
    public string To { get; init; } = "";
    public string Cuda { get; init; } = "";
}

/// <summary>requirements/wheels.json: which CUDA each framework build is made for.</summary>
public sealed class WheelTable
{
    public WheelsFile Data { get; }
    private WheelTable(WheelsFile data) => Data = data;

    public static WheelTable LoadDefault() => FromJson(EmbeddedData.Read("wheels.json"), "built-in wheels.json");

    public static WheelTable FromJson(string json, string what)
    {
        var data = HardwareCatalogue.Parse(json, what, CatalogueJsonContext.Default.WheelsFile);
        if (data.Torch is null || data.Tensorflow is null || data.Jax is null || data.OnnxruntimeGpu is null)
            throw new CatalogueException($"{what}: needs torch, tensorflow, jax and onnxruntimeGpu sections");
        return new WheelTable(data);
    }

    /// <summary>The table row whose major.minor equals that of <paramref name="version"/>.</summary>
    public TorchRelease? Torch(string? version) =>
        MajorMinor(version) is { } mm ? Data.Torch!.Versions.FirstOrDefault(v => v.Version == mm) : null;

    public TensorflowRelease? Tensorflow(string? version) =>
        MajorMinor(version) is { } mm ? Data.Tensorflow!.Versions.FirstOrDefault(v => v.Version == mm) : null;

    public JaxExtra? JaxExtra(string extra) => Data.Jax!.Extras.FirstOrDefault(e => e.Extra == extra);

    public string? OrtCuda(string? version)
    {
        if (PackageVersion.TryParse(version) is not { } v) return null;
        return Data.OnnxruntimeGpu!.Versions.FirstOrDefault(r =>
            PackageVersion.TryParse(r.From) is { } from && PackageVersion.TryParse(r.To) is { } to
            && v.CompareMajorMinor(from) >= 0 && v.CompareMajorMinor(to) <= 0)?.Cuda;
    }

    internal static string? MajorMinor(string? version)
    {
        if (PackageVersion.TryParse(version) is not { } v) return null;
        return $"{v.Parts[0]}.{(v.Parts.Count > 1 ? v.Parts[1] : 0)}";
    }
}

/// <summary>The numeric release segment of a PEP 440 version ("2.3.1rc1" → 2,3,1); enough to order releases.</summary>
public readonly record struct PackageVersion(IReadOnlyList<int> Parts) : IComparable<PackageVersion>
{
    public static PackageVersion? TryParse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        var s = text.Trim().TrimStart('v');
        var plus = s.IndexOf('+');
        if (plus >= 0) s = s[..plus];
        var parts = new List<int>();
        foreach (var piece in s.Split('.'))
        {
            var digits = new string(piece.TakeWhile(char.IsAsciiDigit).ToArray());
            if (digits.Length == 0 || !int.TryParse(digits, out var n)) break;
            parts.Add(n);
            if (digits.Length != piece.Length) break; // "1rc1": pre-release suffix ends the release segment
        }
        return parts.Count == 0 ? null : new PackageVersion(parts);
    }

    public int CompareTo(PackageVersion other)
    {
        for (var i = 0; i < Math.Max(Parts.Count, other.Parts.Count); i++)
        {
            var c = (i < Parts.Count ? Parts[i] : 0).CompareTo(i < other.Parts.Count ? other.Parts[i] : 0);
            if (c != 0) return c;
        }
        return 0;
    }

    public int CompareMajorMinor(PackageVersion other) =>
        new PackageVersion(Parts.Take(2).ToList()).CompareTo(new PackageVersion(other.Parts.Take(2).ToList()));

    public override string ToString() => string.Join('.', Parts);
}
