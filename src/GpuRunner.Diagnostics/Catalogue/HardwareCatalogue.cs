using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using System.Text.RegularExpressions;

namespace GpuRunner.Diagnostics.Catalogue;

/// <summary>
/// Hardware flavors plus GPU spec figures. The built-in one is requirements/tiers.json + gpus.json, embedded in
/// this assembly so a single-file publish carries it; a user file (--catalogue PATH or GPURUNNER_CATALOGUE)
/// replaces the flavors and may add or override GPU models.
/// </summary>
public sealed class HardwareCatalogue
{
    public const string EnvironmentVariable = "GPURUNNER_CATALOGUE";

    public IReadOnlyList<Flavor> Flavors { get; }
    public IReadOnlyList<GpuSpec> Gpus { get; }
    public IReadOnlyList<NewerPrice> NewerPrices { get; }
    /// <summary>"built-in" or the path of the user's file.</summary>
    public string Origin { get; }

    private HardwareCatalogue(IReadOnlyList<Flavor> flavors, IReadOnlyList<GpuSpec> gpus, IReadOnlyList<NewerPrice> newer, string origin)
    {
        Flavors = flavors;
        Gpus = gpus;
        NewerPrices = newer;
        Origin = origin;
    }

    public IEnumerable<Flavor> DefaultFlavors => Flavors.Where(f => f.IsDefault);

    public Flavor? Find(string id) => Flavors.FirstOrDefault(f => string.Equals(f.Id, id, StringComparison.OrdinalIgnoreCase));

    /// <summary>The spec of the GPU NVML names <paramref name="nvmlName"/>, or null for a model not in the catalogue.</summary>
    public GpuSpec? IdentifyGpu(string nvmlName)
    {
        var name = nvmlName.Trim();
        // Exact names first so a pattern of one model cannot shadow another's exact name.
        return Gpus.FirstOrDefault(g => g.NvmlNames.Any(n => !n.Contains('*') && string.Equals(n, name, StringComparison.OrdinalIgnoreCase)))
            ?? Gpus.FirstOrDefault(g => g.NvmlNames.Any(n => n.Contains('*') && Glob(n).IsMatch(name)));
    }

    // Matching runs per GPU per flavor; build each pattern's regex once.
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, Regex> Globs = new();

    private static Regex Glob(string pattern) => Globs.GetOrAdd(pattern, p =>
        new("^" + string.Join(".*", p.Split('*').Select(Regex.Escape)) + "$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant));

    /// <summary>The built-in catalogue.</summary>
    public static HardwareCatalogue LoadDefault()
    {
        var tiers = Parse(EmbeddedData.Read("tiers.json"), "built-in tiers.json", CatalogueJsonContext.Default.TiersFile);
        var gpus = Parse(EmbeddedData.Read("gpus.json"), "built-in gpus.json", CatalogueJsonContext.Default.GpusFile);
        return Build(tiers, gpus.Gpus ?? [], "built-in", "built-in tiers.json");
    }

    /// <summary>
    /// The catalogue to use: <paramref name="optionPath"/> (--catalogue), else the GPURUNNER_CATALOGUE variable,
    /// else the built-in one.
    /// </summary>
    public static HardwareCatalogue Resolve(string? optionPath, Func<string, string?>? getVariable = null)
    {
        var path = !string.IsNullOrWhiteSpace(optionPath) ? optionPath
            : (getVariable ?? Environment.GetEnvironmentVariable)(EnvironmentVariable) is { Length: > 0 } env ? env : null;
        return path is null ? LoadDefault() : LoadFile(path);
    }

    /// <summary>A user catalogue: tiers.json's shape; its "gpus" (optional) add to or replace built-in models by id.</summary>
    public static HardwareCatalogue LoadFile(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            var why = e is FileNotFoundException or DirectoryNotFoundException ? "no such file" : e.Message;
            throw new CatalogueException($"catalogue {path}: cannot read: {why}", e);
        }
        var tiers = Parse(text, $"catalogue {path}", CatalogueJsonContext.Default.TiersFile);
        var builtInGpus = Parse(EmbeddedData.Read("gpus.json"), "built-in gpus.json", CatalogueJsonContext.Default.GpusFile).Gpus ?? [];
        var own = tiers.Gpus ?? [];
        var gpus = own.Concat(builtInGpus.Where(b => !own.Any(o => string.Equals(o.Id, b.Id, StringComparison.OrdinalIgnoreCase)))).ToList();
        return Build(tiers, gpus, path, $"catalogue {path}");
    }

    /// <summary>Parses and validates text in tiers.json's shape (for tests and callers holding the text).</summary>
    public static HardwareCatalogue FromJson(string tiersJson, string origin = "catalogue") =>
        Build(Parse(tiersJson, origin, CatalogueJsonContext.Default.TiersFile),
            Parse(EmbeddedData.Read("gpus.json"), "built-in gpus.json", CatalogueJsonContext.Default.GpusFile).Gpus ?? [], origin, origin);

    internal static T Parse<T>(string text, string what, JsonTypeInfo<T> type) where T : class
    {
        try
        {
            return JsonSerializer.Deserialize(text, type) ?? throw new CatalogueException($"{what}: the file is empty (null)");
        }
        catch (JsonException e)
        {
            var where = e.LineNumber is { } line ? $" at line {line + 1}" : "";
            var path = string.IsNullOrEmpty(e.Path) || e.Path == "$" ? "" : $" ({e.Path})";
            throw new CatalogueException($"{what}: not valid{where}{path}: {FirstSentence(e.Message)}", e);
        }
    }

    internal static string FirstSentence(string message)
    {
        var cut = message.IndexOf(". Path:", StringComparison.Ordinal);
        return (cut > 0 ? message[..cut] : message).ReplaceLineEndings(" ");
    }

    private static readonly Regex IdPattern = new("^[a-z0-9][a-z0-9.-]*$", RegexOptions.CultureInvariant);

    private static HardwareCatalogue Build(TiersFile tiers, IReadOnlyList<GpuSpec> gpus, string origin, string what)
    {
        void Fail(string problem) => throw new CatalogueException($"{what}: {problem}");

        if (tiers.Schema is { } schema && schema != "gpurunner.tiers/1")
            Fail($"schema '{schema}' is not gpurunner.tiers/1");
        if (tiers.Flavors is not { Count: > 0 } flavors)
            Fail("no \"flavors\" array (or it is empty)");

        foreach (var g in gpus)
        {
            if (string.IsNullOrWhiteSpace(g.Id) || string.IsNullOrWhiteSpace(g.Model)) Fail("a GPU entry lacks \"id\" or \"model\"");
            if (g.MemoryGB <= 0) Fail($"GPU '{g.Id}': memoryGB must be a positive integer");
            if (g.NvmlNames.Count == 0) Fail($"GPU '{g.Id}': nvmlNames is empty, so no device could ever be identified as it");
        }

        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var f in tiers.Flavors!)
        {
            if (string.IsNullOrWhiteSpace(f.Id)) Fail("a flavor lacks \"id\"");
            var at = $"flavor '{f.Id}'";
            if (!IdPattern.IsMatch(f.Id)) Fail($"{at}: id must be lower-case letters, digits, '-' or '.'");
            if (!seen.Add(f.Id)) Fail($"{at}: duplicate id");
            if (f.Gpu is { } gpu)
            {
                if (string.IsNullOrWhiteSpace(gpu.Model)) Fail($"{at}: gpu.model is empty");
                if (!gpus.Any(g => string.Equals(g.Model, gpu.Model, StringComparison.OrdinalIgnoreCase)))
                    Fail($"{at}: gpu.model '{gpu.Model}' is not a model in the GPU list ({string.Join(", ", gpus.Select(g => g.Model).Distinct())})");
                if (gpu.Count <= 0) Fail($"{at}: gpu.count must be a positive integer");
                if (gpu.MemoryGB <= 0) Fail($"{at}: gpu.memoryGB must be a positive integer");
            }
            if (f.Vcpu is <= 0) Fail($"{at}: vcpu must be a positive integer");
            if (f.RamGB is <= 0) Fail($"{at}: ramGB must be a positive integer");
            if (f.DiskGB is <= 0) Fail($"{at}: diskGB must be a positive integer");
            if (f.PriceMicroUsdPerHour is < 0) Fail($"{at}: priceMicroUsdPerHour must not be negative");
            if (f.IsDefault && (f.Vcpu is null || f.RamGB is null || f.DiskGB is null || f.PriceMicroUsdPerHour is null))
                Fail($"{at}: a default tier needs vcpu, ramGB, diskGB and priceMicroUsdPerHour");
        }
        foreach (var p in tiers.NewerPrices ?? [])
        {
            if (!seen.Contains(p.Id)) Fail($"newerPrices: '{p.Id}' is not a flavor");
            if (p.PriceMicroUsdPerHour < 0) Fail($"newerPrices '{p.Id}': price must not be negative");
        }
        if (!tiers.Flavors!.Any(f => f.IsDefault)) Fail("no flavor is a default tier (\"default\": true)");
        return new HardwareCatalogue(tiers.Flavors!, gpus, tiers.NewerPrices ?? [], origin);
    }
}

/// <summary>The requirements/*.json files embedded in this assembly.</summary>
internal static class EmbeddedData
{
    public static string Read(string fileName)
    {
        var name = "GpuRunner.requirements." + fileName;
        using var stream = typeof(EmbeddedData).Assembly.GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"embedded resource {name} is missing (a build problem)");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
