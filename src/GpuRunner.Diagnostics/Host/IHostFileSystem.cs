namespace GpuRunner.Diagnostics.Host;

/// <summary>
/// The few reads host detection needs. Probing code goes through this so tests can feed cgroup/proc fixtures
/// instead of the machine they run on (<see cref="SystemHost"/> is the real one).
/// </summary>
public interface IHostFileSystem
{
    /// <summary>The file's text, or null when it is absent or unreadable (a probe treats both as "no evidence").</summary>
    string? TryReadAllText(string path);

    bool Exists(string path);

    /// <summary>statvfs of the file system holding <paramref name="path"/>; null when it cannot be read.</summary>
    DiskUsage? TryGetDiskUsage(string path);
}

/// <summary>Process environment: variables, the runtime's processor count and the working directory.</summary>
public interface IHostEnvironment
{
    string? GetVariable(string name);

    /// <summary>Environment.ProcessorCount: the last resort for vCPU.</summary>
    int ProcessorCount { get; }

    string CurrentDirectory { get; }
}

/// <summary>Sizes in bytes; <see cref="FreeBytes"/> is what an unprivileged process may still use (f_bavail).</summary>
public readonly record struct DiskUsage(long TotalBytes, long FreeBytes);
