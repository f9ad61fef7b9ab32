using System.Globalization;

namespace GpuRunner.Diagnostics.Host;

/// <summary>
/// Collects <see cref="HostFacts"/>: vCPU and RAM as the container's limits give them (the figures a tier is
/// priced on), disks, OS, kernel, container evidence and the Space/NVIDIA variables. Never throws on odd input:
/// a file that is absent or malformed is simply not evidence.
/// </summary>
public static class HostProbe
{
    /// <summary>Variables a Space container receives, plus the ones that decide which GPUs it sees.</summary>
    public static readonly IReadOnlyList<string> EnvironmentVariables =
    [
        "SPACE_ID", "SPACE_HOST", "SPACE_AUTHOR_NAME", "SPACE_REPO_NAME", "SPACE_CREATOR_USER_ID", "CPU_CORES", "MEMORY",
        "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "NVIDIA_DRIVER_CAPABILITIES",
    ];

    // cgroup v1 reports "no limit" as a page-aligned LONG_MAX; anything this large is no limit either.
    private const long AbsurdBytes = 1L << 60;

    public static HostFacts Collect() => Collect(SystemHost.Instance, SystemHost.Instance);

    public static HostFacts Collect(IHostFileSystem fs, IHostEnvironment env)
    {
        var cgroups = new Cgroups(fs);
        var (vcpu, vcpuSource, vcpuDetail) = Vcpu(fs, env, cgroups);
        var (memory, memorySource, memoryDetail) = Memory(fs, cgroups);
        return new HostFacts
        {
            Vcpu = vcpu,
            VcpuSource = vcpuSource,
            VcpuDetail = vcpuDetail,
            MemoryBytes = memory,
            MemorySource = memorySource,
            MemoryDetail = memoryDetail,
            Disks = Disks(fs, env),
            Os = OsName(fs),
            Kernel = fs.TryReadAllText("/proc/sys/kernel/osrelease")?.Trim() is { Length: > 0 } k ? k : null,
            Container = Container(fs, env, cgroups),
            Env = EnvironmentVariables.ToDictionary(n => n, env.GetVariable),
        };
    }

    private static (int, string, string?) Vcpu(IHostFileSystem fs, IHostEnvironment env, Cgroups cgroups)
    {
        var quota = CpuQuotaV2(fs, cgroups) ?? CpuQuotaV1(fs, cgroups);
        var affinity = AffinityCount(fs);

        if (quota is { } q)
        {
            var fromQuota = Math.Max(1, (int)Math.Ceiling(q.Cpus - 1e-9));
            // A quota larger than the CPUs we may run on cannot be used: affinity is then the real limit.
            if (affinity is { } a && a < fromQuota)
                return (a, "affinity", $"Cpus_allowed_list {a} CPUs (below {q.Detail})");
            return (fromQuota, q.Source, q.Detail);
        }
        if (affinity is { } only)
            return (only, "affinity", $"Cpus_allowed_list {only} CPUs; no cgroup CPU quota");
        return (env.ProcessorCount, "nproc", "no cgroup CPU quota and no affinity list; Environment.ProcessorCount");
    }

    private sealed record Quota(double Cpus, string Source, string Detail);

    private static Quota? CpuQuotaV2(IHostFileSystem fs, Cgroups cgroups)
    {
        Quota? best = null;
        foreach (var dir in cgroups.V2Directories())
        {
            // "max 100000" (no limit) or "<quota> <period>" in microseconds.
            var parts = fs.TryReadAllText(dir + "/cpu.max")?.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (parts is not { Length: 2 } || !TryLong(parts[0], out var quota) || !TryLong(parts[1], out var period)
                || quota <= 0 || period <= 0)
                continue;
            var cpus = (double)quota / period;
            if (best is null || cpus < best.Cpus)
                best = new Quota(cpus, "cgroup2 cpu.max", $"cpu.max {quota} {period} ({Fmt(cpus)} CPUs) at {dir}");
        }
        return best;
    }

    private static Quota? CpuQuotaV1(IHostFileSystem fs, Cgroups cgroups)
    {
        Quota? best = null;
        foreach (var dir in cgroups.V1Directories("cpu"))
        {
            // cfs_quota_us is -1 when unlimited.
            if (!TryLong(fs.TryReadAllText(dir + "/cpu.cfs_quota_us"), out var quota) || quota <= 0
                || !TryLong(fs.TryReadAllText(dir + "/cpu.cfs_period_us"), out var period) || period <= 0)
                continue;
            var cpus = (double)quota / period;
            if (best is null || cpus < best.Cpus)
                best = new Quota(cpus, "cgroup1 cfs", $"cfs_quota_us {quota} / cfs_period_us {period} ({Fmt(cpus)} CPUs) at {dir}");
        }
        return best;
    }

    /// <summary>The CPUs sched_getaffinity allows, as the kernel prints them in /proc/self/status.</summary>
    private static int? AffinityCount(IHostFileSystem fs)
    {
        foreach (var line in Cgroups.Lines(fs.TryReadAllText("/proc/self/status")))
        {
            if (!line.StartsWith("Cpus_allowed_list:", StringComparison.Ordinal)) continue;
            return CountCpuList(line["Cpus_allowed_list:".Length..]);
        }
        return null;
    }

    /// <summary>Counts a kernel CPU list such as "0-3,8,10-11"; null when malformed or empty.</summary>
    public static int? CountCpuList(string list)
    {
        var count = 0;
        foreach (var range in list.Trim().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var dash = range.IndexOf('-');
            if (dash < 0)
            {
                if (!int.TryParse(range, NumberStyles.None, CultureInfo.InvariantCulture, out _)) return null;
                count++;
            }
            else if (int.TryParse(range.AsSpan(0, dash), NumberStyles.None, CultureInfo.InvariantCulture, out var lo)
                     && int.TryParse(range.AsSpan(dash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var hi)
                     && hi >= lo)
                count += hi - lo + 1;
            else return null;
        }
        return count > 0 ? count : null;
    }

    private static (long?, string, string?) Memory(IHostFileSystem fs, Cgroups cgroups)
    {
        (long Bytes, string Source, string Dir)? limit = null;
        foreach (var dir in cgroups.V2Directories())
            if (TryLong(fs.TryReadAllText(dir + "/memory.max"), out var v) && v > 0 && v < AbsurdBytes
                && (limit is null || v < limit.Value.Bytes))
                limit = (v, "cgroup2 memory.max", dir);
        if (limit is null)
            foreach (var dir in cgroups.V1Directories("memory"))
                if (TryLong(fs.TryReadAllText(dir + "/memory.limit_in_bytes"), out var v) && v > 0 && v < AbsurdBytes
                    && (limit is null || v < limit.Value.Bytes))
                    limit = (v, "cgroup1 memory.limit_in_bytes", dir);

        var memTotal = MemTotal(fs);
        if (limit is { } l && (memTotal is null || l.Bytes < memTotal))
            return (l.Bytes, l.Source, $"{l.Source} {l.Bytes} at {l.Dir}");
        if (memTotal is { } total)
            return (total, "meminfo MemTotal",
                limit is { } above ? $"MemTotal {total}; {above.Source} {above.Bytes} is not below it" : $"MemTotal {total}; no cgroup memory limit");
        return (null, "unknown", "no cgroup memory limit and no /proc/meminfo");
    }

    private static long? MemTotal(IHostFileSystem fs)
    {
        foreach (var line in Cgroups.Lines(fs.TryReadAllText("/proc/meminfo")))
        {
            if (!line.StartsWith("MemTotal:", StringComparison.Ordinal)) continue;
            var parts = line["MemTotal:".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return parts.Length >= 1 && TryLong(parts[0], out var kb) ? kb * 1024 : null; // the kernel's "kB" is KiB
        }
        return null;
    }

    private static IReadOnlyList<DiskFacts> Disks(IHostFileSystem fs, IHostEnvironment env)
    {
        var disks = new List<DiskFacts>();
        foreach (var path in new[] { env.CurrentDirectory, "/" }.Distinct(StringComparer.Ordinal))
            if (fs.TryGetDiskUsage(path) is { } usage)
                disks.Add(new DiskFacts(path, usage.TotalBytes, usage.FreeBytes));
        return disks;
    }

    private static string? OsName(IHostFileSystem fs)
    {
        var text = fs.TryReadAllText("/etc/os-release") ?? fs.TryReadAllText("/usr/lib/os-release");
        string? name = null;
        foreach (var line in Cgroups.Lines(text))
        {
            var eq = line.IndexOf('=');
            if (eq <= 0) continue;
            var key = line[..eq];
            var value = line[(eq + 1)..].Trim().Trim('"', '\'');
            if (key == "PRETTY_NAME" && value.Length > 0) return value;
            if (key == "NAME" && value.Length > 0) name = value;
        }
        return name;
    }

    private static readonly string[] ContainerCgroupMarkers = ["docker", "kubepods", "containerd", "libpod", "lxc", "crio", "podman"];

    private static ContainerFacts Container(IHostFileSystem fs, IHostEnvironment env, Cgroups cgroups)
    {
        var evidence = new List<string>();
        if (fs.Exists("/.dockerenv")) evidence.Add("/.dockerenv");
        if (fs.Exists("/run/.containerenv")) evidence.Add("/run/.containerenv (podman)");
        if (env.GetVariable("container") is { Length: > 0 } c) evidence.Add($"container={c}");
        if (env.GetVariable("KUBERNETES_SERVICE_HOST") is { Length: > 0 }) evidence.Add("KUBERNETES_SERVICE_HOST is set");
        if (env.GetVariable("SPACE_ID") is { Length: > 0 } space) evidence.Add($"SPACE_ID={space}");
        var cgroupPaths = cgroups.MembershipPaths
            .Concat(Cgroups.Lines(fs.TryReadAllText("/proc/1/cgroup")).Select(l => l[(l.LastIndexOf(':') + 1)..]));
        foreach (var path in cgroupPaths.Distinct())
            if (ContainerCgroupMarkers.Any(m => path.Contains(m, StringComparison.OrdinalIgnoreCase)))
            {
                evidence.Add($"cgroup: {path}");
                break;
            }
        foreach (var line in Cgroups.Lines(fs.TryReadAllText("/proc/self/mountinfo")))
        {
            var fields = line.Split(' ');
            var dash = Array.IndexOf(fields, "-");
            if (fields.Length > 4 && fields[4] == "/" && dash > 0 && dash + 1 < fields.Length && fields[dash + 1] == "overlay")
            {
                evidence.Add("root file system is overlay");
                break;
            }
        }
        return new ContainerFacts(evidence.Count > 0, evidence);
    }

    private static bool TryLong(string? s, out long value) =>
        long.TryParse(s?.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value);

    private static string Fmt(double d) => d.ToString("0.00", CultureInfo.InvariantCulture);
}
