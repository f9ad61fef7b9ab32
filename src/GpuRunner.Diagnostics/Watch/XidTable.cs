using System.Text.Json;
using System.Text.Json.Serialization;
using GpuRunner.Diagnostics.Catalogue;

namespace GpuRunner.Diagnostics.Watch;

/// <summary>Who is to blame for a GPU event, and so what happens to the run and the bill.</summary>
public enum GpuFaultClass { Info, User, Hardware, Driver }

public static class GpuFaultClasses
{
    public static string ToWire(this GpuFaultClass c) => c switch
    {
        GpuFaultClass.User => "user", GpuFaultClass.Hardware => "hardware", GpuFaultClass.Driver => "driver", _ => "info",
    };

    public static GpuFaultClass Parse(string wire) => wire switch
    {
        "user" => GpuFaultClass.User, "hardware" => GpuFaultClass.Hardware, "driver" => GpuFaultClass.Driver, "info" => GpuFaultClass.Info,
        _ => throw new CatalogueException($"xid.json: unknown class '{wire}' (user, hardware, driver, info)"),
    };
}

public sealed record XidEntry(int Code, GpuFaultClass Class, bool Fatal, string Cause);

/// <summary>
/// requirements/xid.json: Xid code → class, whether it ends the run, and the cause in words; plus each class's
/// verdict and advice (the second half of the watch's log line).
/// </summary>
public sealed class XidTable
{
    private readonly Dictionary<int, XidEntry> _byCode;
    private readonly Dictionary<GpuFaultClass, (string Verdict, string Advice)> _classes;
    private readonly XidEntry _unknown;

    private XidTable(Dictionary<int, XidEntry> byCode, Dictionary<GpuFaultClass, (string, string)> classes, XidEntry unknown)
    {
        _byCode = byCode;
        _classes = classes;
        _unknown = unknown;
    }

    private static readonly Lazy<XidTable> BuiltInTable = new(() => Parse(EmbeddedData.Read("xid.json")));

    public static XidTable BuiltIn => BuiltInTable.Value;

    public IReadOnlyCollection<XidEntry> Entries => _byCode.Values;

    /// <summary>The entry for <paramref name="code"/>; an unlisted code gets the table's "unknownXid" entry.</summary>
    public XidEntry Classify(int code) => _byCode.TryGetValue(code, out var e) ? e : _unknown with { Code = code };

    public string Verdict(GpuFaultClass c) => _classes[c].Verdict;
    public string Advice(GpuFaultClass c) => _classes[c].Advice;

    public static XidTable Parse(string json)
    {
        XidFile file;
        try { file = JsonSerializer.Deserialize(json, XidJsonContext.Default.XidFile) ?? throw new CatalogueException("xid.json is empty"); }
        catch (JsonException e) { throw new CatalogueException($"xid.json: {e.Message}"); }
        var classes = new Dictionary<GpuFaultClass, (string, string)>();
        foreach (var (name, c) in file.Classes ?? [])
            classes[GpuFaultClasses.Parse(name)] = (c.Verdict ?? name, c.Advice ?? "");
        foreach (var c in Enum.GetValues<GpuFaultClass>())
            if (!classes.ContainsKey(c)) throw new CatalogueException($"xid.json: class '{c.ToWire()}' is missing");
        var byCode = new Dictionary<int, XidEntry>();
        foreach (var x in file.Xids ?? [])
        {
            if (x.Code is < 1 or > 1000) throw new CatalogueException($"xid.json: code {x.Code} is out of range 1..1000");
            if (string.IsNullOrWhiteSpace(x.Cause)) throw new CatalogueException($"xid.json: Xid {x.Code} has no cause");
            if (!byCode.TryAdd(x.Code, new XidEntry(x.Code, GpuFaultClasses.Parse(x.Class ?? ""), x.Fatal, x.Cause)))
                throw new CatalogueException($"xid.json: Xid {x.Code} is listed twice");
        }
        var u = file.UnknownXid ?? new XidFileEntry(0, "driver", false, "an Xid that the table does not list");
        return new XidTable(byCode, classes, new XidEntry(0, GpuFaultClasses.Parse(u.Class ?? "driver"), u.Fatal, u.Cause ?? "an unlisted Xid"));
    }
}

internal sealed record XidFileClass(string? Verdict, string? Advice);
internal sealed record XidFileEntry(int Code, string? Class, bool Fatal, string? Cause);
internal sealed record XidFile(string? Source, Dictionary<string, XidFileClass>? Classes, List<XidFileEntry>? Xids, XidFileEntry? UnknownXid);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    ReadCommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true)]
[JsonSerializable(typeof(XidFile))]
internal sealed partial class XidJsonContext : JsonSerializerContext;
