using System.Text;
using System.Text.RegularExpressions;

namespace GpuRunner.Diagnostics.Frameworks;

/// <summary>
/// GLIBCXX symbol versions: which ones a library needs and which the system's libstdc++ provides. Both are plain
/// strings in the ELF (.dynstr of the consumer's version-needs, the verdefs of libstdc++), so a byte scan finds them
/// without an ELF parser.
/// </summary>
public static partial class LibStdCxx
{
    /// <summary>Every GLIBCXX_x.y.z string in a file, highest last.</summary>
    public static IReadOnlyList<Version> Versions(string file)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(file); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return []; }
        return Versions(bytes);
    }

    public static IReadOnlyList<Version> Versions(ReadOnlySpan<byte> bytes)
    {
        var text = Encoding.Latin1.GetString(bytes);
        return [.. GlibcxxRegex().Matches(text).Select(m => Version.Parse(m.Groups[1].Value)).Distinct().Order()];
    }

    /// <summary>The libstdc++ this process uses (it is mapped already: the .NET runtime links it), else the usual places.</summary>
    public static string? SystemLibrary()
    {
        if (CudaLibraryProbe.LoadedPath("libstdc++.so.6") is { } loaded) return loaded;
        foreach (var dir in new[] { "/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib" })
        {
            var p = Path.Combine(dir, "libstdc++.so.6");
            if (File.Exists(p)) return Path.GetFullPath(p);
        }
        return null;
    }

    public static string Format(Version v) => $"GLIBCXX_{v}";

    [GeneratedRegex(@"GLIBCXX_(\d+\.\d+(?:\.\d+)?)(?![\d.])")] private static partial Regex GlibcxxRegex();
}
