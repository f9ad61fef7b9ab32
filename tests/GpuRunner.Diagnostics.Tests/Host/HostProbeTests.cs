using GpuRunner.Diagnostics.Host;

namespace GpuRunner.Diagnostics.Tests.Host;

public class HostProbeTests
{
    private const string MemInfo = "MemTotal:       131891260 kB\nMemFree:        120000000 kB\n";

    /// <summary>A Docker container on cgroup v2 with its own cgroup namespace: the mount root is our cgroup.</summary>
    private static FakeHost CgroupV2Container() => new FakeHost()
        .File("/proc/self/cgroup", "0::/\n")
        .File("/proc/self/mountinfo",
            "1250 1100 0:64 / / rw,relatime - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/X\n" +
            "1260 1250 0:70 / /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - cgroup2 cgroup rw,nsdelegate\n")
        .File("/sys/fs/cgroup/cpu.max", "400000 100000\n")
        .File("/sys/fs/cgroup/memory.max", "16106127360\n")
        .File("/proc/self/status", "Name:\tgpurunner\nCpus_allowed_list:\t0-15\n")
        .File("/proc/meminfo", MemInfo)
        .File("/.dockerenv", "");

    [Fact]
    public void CgroupV2QuotaAndMemoryWin()
    {
        var facts = CgroupV2Container().Collect();
        Assert.Equal(4, facts.Vcpu);
        Assert.Equal("cgroup2 cpu.max", facts.VcpuSource);
        Assert.Contains("400000 100000", facts.VcpuDetail);
        Assert.Equal(16106127360, facts.MemoryBytes);
        Assert.Equal("cgroup2 memory.max", facts.MemorySource);
        Assert.True(facts.Container.Detected);
        Assert.Contains("/.dockerenv", facts.Container.Evidence);
        Assert.Contains("root file system is overlay", facts.Container.Evidence);
    }

    [Fact]
    public void FractionalQuotaRoundsUpAndMaxMeansNoLimit()
    {
        var host = CgroupV2Container()
            .File("/sys/fs/cgroup/cpu.max", "150000 100000")
            .File("/sys/fs/cgroup/memory.max", "max\n");
        var facts = host.Collect();
        Assert.Equal(2, facts.Vcpu);
        Assert.Equal("cgroup2 cpu.max", facts.VcpuSource);
        Assert.Equal(131891260L * 1024, facts.MemoryBytes);
        Assert.Equal("meminfo MemTotal", facts.MemorySource);
    }

    [Fact]
    public void CgroupV2LimitOnAnAncestorIsFoundByWalkingUp()
    {
        // systemd-style host path: the limit sits on the slice, not on the leaf.
        var host = new FakeHost()
            .File("/proc/self/cgroup", "0::/system.slice/app.service/inner\n")
            .File("/proc/self/mountinfo", "30 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n")
            .File("/sys/fs/cgroup/system.slice/app.service/inner/cpu.max", "max 100000\n")
            .File("/sys/fs/cgroup/system.slice/app.service/cpu.max", "200000 100000\n")
            .File("/sys/fs/cgroup/system.slice/cpu.max", "800000 100000\n")
            .File("/sys/fs/cgroup/system.slice/app.service/memory.max", "8589934592\n")
            .File("/proc/meminfo", MemInfo);
        var facts = host.Collect();
        Assert.Equal(2, facts.Vcpu);
        Assert.Contains("/sys/fs/cgroup/system.slice/app.service", facts.VcpuDetail);
        Assert.Equal(8589934592, facts.MemoryBytes);
        Assert.False(facts.Container.Detected);
    }

    [Fact]
    public void CgroupV1CfsQuotaAndMemoryLimit()
    {
        var host = new FakeHost()
            .File("/proc/self/cgroup",
                "12:memory:/docker/0123abcd\n4:cpu,cpuacct:/docker/0123abcd\n1:name=systemd:/docker/0123abcd\n")
            .File("/proc/self/mountinfo",
                "40 30 0:35 /docker/0123abcd /sys/fs/cgroup/cpu,cpuacct ro,nosuid - cgroup cgroup rw,cpu,cpuacct\n" +
                "41 30 0:36 /docker/0123abcd /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory\n")
            .File("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "800000\n")
            .File("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n")
            .File("/sys/fs/cgroup/memory/memory.limit_in_bytes", "32212254720\n")
            .File("/proc/meminfo", MemInfo);
        var facts = host.Collect();
        Assert.Equal(8, facts.Vcpu);
        Assert.Equal("cgroup1 cfs", facts.VcpuSource);
        Assert.Equal(32212254720, facts.MemoryBytes);
        Assert.Equal("cgroup1 memory.limit_in_bytes", facts.MemorySource);
        Assert.Contains(facts.Container.Evidence, e => e.StartsWith("cgroup: /docker/0123abcd"));
    }

    [Fact]
    public void CgroupV1UnlimitedValuesAreIgnored()
    {
        var host = new FakeHost { ProcessorCount = 12 }
            .File("/proc/self/cgroup", "4:cpu,cpuacct:/\n12:memory:/\n")
            .File("/proc/self/mountinfo",
                "40 30 0:35 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n" +
                "41 30 0:36 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n")
            .File("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "-1\n")
            .File("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n")
            .File("/sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n")
            .File("/proc/meminfo", MemInfo);
        var facts = host.Collect();
        Assert.Equal(12, facts.Vcpu);
        Assert.Equal("nproc", facts.VcpuSource);
        Assert.Equal("meminfo MemTotal", facts.MemorySource);
    }

    [Fact]
    public void AffinityBelowQuotaWins()
    {
        var host = CgroupV2Container().File("/proc/self/status", "Cpus_allowed_list:\t0-1,4\n");
        var facts = host.Collect();
        Assert.Equal(3, facts.Vcpu);
        Assert.Equal("affinity", facts.VcpuSource);
    }

    [Fact]
    public void LentH200VmFallsBackToAffinityAndMemTotal()
    {
        // RECIPE.md: cgroup v2 mounted but no cpu.max / memory.max; 16 vCPU; MemTotal about 126 GiB.
        var host = new FakeHost { ProcessorCount = 16, CurrentDirectory = "/" }
            .File("/proc/self/cgroup", "0::/\n")
            .File("/proc/self/mountinfo", "25 1 0:23 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n")
            .File("/proc/self/status", "Cpus_allowed_list:\t0-15\n")
            .File("/proc/meminfo", MemInfo)
            .File("/etc/os-release", "NAME=\"Ubuntu\"\nPRETTY_NAME=\"Ubuntu 24.04.3 LTS\"\nID=ubuntu\n")
            .File("/proc/sys/kernel/osrelease", "6.18.0\n");
        host.DiskUsages["/"] = new DiskUsage(270_582_939_648, 68_719_476_736);
        var facts = host.Collect();
        Assert.Equal(16, facts.Vcpu);
        Assert.Equal("affinity", facts.VcpuSource);
        Assert.Equal("meminfo MemTotal", facts.MemorySource);
        Assert.Equal("Ubuntu 24.04.3 LTS", facts.Os);
        Assert.Equal("6.18.0", facts.Kernel);
        var disk = Assert.Single(facts.Disks); // the working directory is / itself
        Assert.Equal("/", disk.Path);
        Assert.Equal(68_719_476_736, disk.FreeBytes);
    }

    [Fact]
    public void NothingReadableStillGivesAnAnswer()
    {
        var facts = new FakeHost { ProcessorCount = 7 }.Collect();
        Assert.Equal(7, facts.Vcpu);
        Assert.Equal("nproc", facts.VcpuSource);
        Assert.Null(facts.MemoryBytes);
        Assert.Equal("unknown", facts.MemorySource);
        Assert.Empty(facts.Disks);
        Assert.Null(facts.Os);
        Assert.False(facts.Container.Detected);
    }

    [Fact]
    public void SpaceVariablesAreReportedAndUnsetOnesAreNull()
    {
        var host = new FakeHost();
        host.Variables["SPACE_ID"] = "alice/demo";
        host.Variables["CPU_CORES"] = "4";
        host.Variables["NVIDIA_VISIBLE_DEVICES"] = "all";
        var facts = host.Collect();
        Assert.Equal("alice/demo", facts.Env["SPACE_ID"]);
        Assert.Equal("4", facts.Env["CPU_CORES"]);
        Assert.Equal("all", facts.Env["NVIDIA_VISIBLE_DEVICES"]);
        Assert.True(facts.Env.ContainsKey("CUDA_VISIBLE_DEVICES"));
        Assert.Null(facts.Env["CUDA_VISIBLE_DEVICES"]);
        Assert.Contains("SPACE_ID=alice/demo", facts.Container.Evidence);
    }

    [Theory]
    [InlineData("0-15", 16)]
    [InlineData("0,2,4-5", 4)]
    [InlineData(" 3 ", 1)]
    [InlineData("", null)]
    [InlineData("5-2", null)]
    [InlineData("a-b", null)]
    public void CpuListsAreCounted(string list, int? expected) => Assert.Equal(expected, HostProbe.CountCpuList(list));

    [Fact]
    public void RealMachineProbeDoesNotThrowAndJsonHasContractNames()
    {
        var facts = HostProbe.Collect();
        Assert.True(facts.Vcpu >= 1);
        Assert.NotEmpty(facts.Disks);
        Assert.True(facts.Disks[0].TotalBytes > 0, "statvfs of the working directory returned no size");
        var json = System.Text.Json.JsonSerializer.Serialize(facts, HostJsonContext.Default.HostFacts);
        foreach (var name in new[] { "\"vcpu\"", "\"vcpuSource\"", "\"memoryBytes\"", "\"memorySource\"", "\"disks\"", "\"totalBytes\"",
                     "\"freeBytes\"", "\"os\"", "\"kernel\"", "\"container\"", "\"detected\"", "\"evidence\"", "\"env\"", "\"SPACE_ID\"" })
            Assert.Contains(name, json);
    }

    [Fact]
    public void StatvfsAgreesWithDriveInfoForRoot()
    {
        var usage = SystemHost.Instance.TryGetDiskUsage("/");
        Assert.NotNull(usage);
        var drive = new DriveInfo("/");
        Assert.Equal(drive.TotalSize, usage.Value.TotalBytes);
    }
}
