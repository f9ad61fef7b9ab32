namespace GpuRunner.Diagnostics.Host;

/// <summary>
/// What the container really gets (docs/contracts.md, "host"). Sources name the evidence that won so a reader of
/// a log can tell a cgroup limit from the machine's size.
/// </summary>
public sealed record HostFacts
{
    /// <summary>CPUs this process may use, rounded up (a cgroup quota of 1.5 CPUs is 2 vCPU).</summary>
    public required int Vcpu { get; init; }
    /// <summary>"cgroup2 cpu.max", "cgroup1 cfs", "affinity" or "nproc".</summary>
    public required string VcpuSource { get; init; }
    /// <summary>The evidence in one line, e.g. "cpu.max 400000 100000 (4.00 CPUs) at /sys/fs/cgroup/app".</summary>
    public string? VcpuDetail { get; init; }
    /// <summary>Memory this process may use; null only when nothing could be read.</summary>
    public long? MemoryBytes { get; init; }
    /// <summary>"cgroup2 memory.max", "cgroup1 memory.limit_in_bytes", "meminfo MemTotal" or "unknown".</summary>
    public required string MemorySource { get; init; }
    public string? MemoryDetail { get; init; }
    /// <summary>The working directory's file system first, then `/` (once when they are the same path).</summary>
    public required IReadOnlyList<DiskFacts> Disks { get; init; }
    /// <summary>PRETTY_NAME of /etc/os-release.</summary>
    public string? Os { get; init; }
    /// <summary>uname -r (from /proc/sys/kernel/osrelease).</summary>
    public string? Kernel { get; init; }
    public required ContainerFacts Container { get; init; }
    /// <summary>The Space and NVIDIA variables (<see cref="HostProbe.EnvironmentVariables"/>); null when unset.</summary>
    public required IReadOnlyDictionary<string, string?> Env { get; init; }
}

public sealed record DiskFacts(string Path, long TotalBytes, long FreeBytes);

public sealed record ContainerFacts(bool Detected, IReadOnlyList<string> Evidence);
