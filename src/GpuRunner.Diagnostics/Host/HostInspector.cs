using GpuRunner.Diagnostics.Inventory;
using GpuRunner.Diagnostics.Report;

namespace GpuRunner.Diagnostics.Host;

/// <summary>The report's host section from <see cref="HostProbe"/> (cgroups, affinity, meminfo, statvfs, ...).</summary>
public sealed class HostInspector(IHostFileSystem? fs = null, IHostEnvironment? env = null) : IHostInspector
{
    public HostReport Inspect() => ToReport(HostProbe.Collect(fs ?? SystemHost.Instance, env ?? SystemHost.Instance));

    public static HostReport ToReport(HostFacts facts) => new()
    {
        Vcpu = facts.Vcpu,
        VcpuSource = facts.VcpuSource,
        MemoryBytes = facts.MemoryBytes ?? 0,
        MemorySource = facts.MemorySource,
        Disks = facts.Disks.Select(d => new DiskReport(d.Path, d.TotalBytes, d.FreeBytes)).ToList(),
        Os = facts.Os,
        Kernel = facts.Kernel,
        Container = new ContainerReport { Detected = facts.Container.Detected, Evidence = facts.Container.Evidence.ToList() },
        Env = facts.Env.ToDictionary(kv => kv.Key, kv => kv.Value),
    };
}
