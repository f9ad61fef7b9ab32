using System.Reflection;
using System.Security.Cryptography;

namespace GpuRunner.Core.Pages;

/// <summary>
/// The pages' CSS and JS, embedded in the assembly (Pages/Assets/*) so a single-file publish serves them and
/// nothing is ever fetched from the internet. URLs carry a content hash, so browsers may cache them for long.
/// </summary>
internal static class PageAssets
{
    public sealed record Asset(byte[] Bytes, string ContentType, string Hash);

    private const string Prefix = "GpuRunner.Core.Pages.Assets.";

    private static readonly Dictionary<string, Asset> All = Load();

    private static Dictionary<string, Asset> Load()
    {
        var asm = typeof(PageAssets).Assembly;
        var d = new Dictionary<string, Asset>(StringComparer.Ordinal);
        foreach (var res in asm.GetManifestResourceNames().Where(n => n.StartsWith(Prefix, StringComparison.Ordinal)))
        {
            using var s = asm.GetManifestResourceStream(res)!;
            using var ms = new MemoryStream();
            s.CopyTo(ms);
            var bytes = ms.ToArray();
            var name = res[Prefix.Length..];
            var type = Path.GetExtension(name) switch
            {
                ".css" => "text/css; charset=utf-8",
                ".js" => "text/javascript; charset=utf-8",
                ".svg" => "image/svg+xml",
                _ => "application/octet-stream",
            };
            d[name] = new Asset(bytes, type, Convert.ToHexStringLower(SHA256.HashData(bytes))[..12]);
        }
        return d;
    }

    public static Asset? Find(string name) => All.GetValueOrDefault(name);

    /// <summary>The URL of an asset, versioned by its content hash.</summary>
    public static string Url(string name) =>
        All.TryGetValue(name, out var a) ? $"/assets/{name}?v={a.Hash}"
            : throw new InvalidOperationException($"asset {name} is not embedded (see GpuRunner.Core.csproj)");
}
