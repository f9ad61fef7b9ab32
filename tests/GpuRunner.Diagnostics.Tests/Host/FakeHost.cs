using GpuRunner.Diagnostics.Host;

namespace GpuRunner.Diagnostics.Tests.Host;

/// <summary>A machine made of fixture files: paths → text, plus disks and variables.</summary>
public sealed class FakeHost : IHostFileSystem, IHostEnvironment
{
    public Dictionary<string, string> Files { get; } = new(StringComparer.Ordinal);
    public HashSet<string> Directories { get; } = new(StringComparer.Ordinal);
    public Dictionary<string, DiskUsage> DiskUsages { get; } = new(StringComparer.Ordinal);
    public Dictionary<string, string> Variables { get; } = new(StringComparer.Ordinal);
    public int ProcessorCount { get; set; } = 64;
    public string CurrentDirectory { get; set; } = "/app";

    public FakeHost File(string path, string text) { Files[path] = text; return this; }

    public string? TryReadAllText(string path) => Files.GetValueOrDefault(path);
    public bool Exists(string path) => Files.ContainsKey(path) || Directories.Contains(path);
    public DiskUsage? TryGetDiskUsage(string path) => DiskUsages.TryGetValue(path, out var d) ? d : null;
    public string? GetVariable(string name) => Variables.GetValueOrDefault(name);

    public HostFacts Collect() => HostProbe.Collect(this, this);
}
