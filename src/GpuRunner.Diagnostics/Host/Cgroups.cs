using System.Text;

namespace GpuRunner.Diagnostics.Host;

/// <summary>
/// Finds this process's cgroup directories the way the .NET runtime does: /proc/self/cgroup gives the path,
/// /proc/self/mountinfo gives where (and from which root) each hierarchy is mounted. Limits can sit on any
/// ancestor, so readers walk from the leaf up to the mount point and keep the smallest.
/// </summary>
internal sealed class Cgroups
{
    private readonly IHostFileSystem _fs;
    private readonly List<Mount> _mounts;
    private readonly List<(string Controllers, string Path)> _memberships;

    private sealed record Mount(string Root, string MountPoint, string FsType, string[] SuperOptions);

    public Cgroups(IHostFileSystem fs)
    {
        _fs = fs;
        _mounts = ParseMountInfo(fs.TryReadAllText("/proc/self/mountinfo"));
        _memberships = ParseProcCgroup(fs.TryReadAllText("/proc/self/cgroup"));
    }

    /// <summary>The cgroup lines of this process (for container evidence).</summary>
    public IEnumerable<string> MembershipPaths => _memberships.Select(m => m.Path);

    /// <summary>Directories from the process's cgroup2 leaf up to the mount point; empty without cgroup v2.</summary>
    public IReadOnlyList<string> V2Directories()
    {
        var mount = _mounts.FirstOrDefault(m => m.FsType == "cgroup2");
        var path = _memberships.FirstOrDefault(m => m.Controllers.Length == 0 && m.Path.Length > 0).Path;
        if (mount is null)
        {
            // No mountinfo (or an unusual one): the conventional unified mount.
            if (!_fs.Exists("/sys/fs/cgroup/cgroup.controllers")) return [];
            mount = new Mount("/", "/sys/fs/cgroup", "cgroup2", []);
        }
        return Walk(mount, path);
    }

    /// <summary>Directories of the v1 hierarchy holding <paramref name="controller"/> ("cpu", "memory").</summary>
    public IReadOnlyList<string> V1Directories(string controller)
    {
        var path = _memberships.FirstOrDefault(m => m.Controllers.Split(',').Contains(controller)).Path;
        var mount = _mounts.FirstOrDefault(m => m.FsType == "cgroup" && m.SuperOptions.Contains(controller));
        if (mount is null)
        {
            var guess = new[] { $"/sys/fs/cgroup/{controller}", controller == "cpu" ? "/sys/fs/cgroup/cpu,cpuacct" : null }
                .FirstOrDefault(d => d is not null && _fs.Exists(d));
            if (guess is null) return [];
            mount = new Mount("/", guess, "cgroup", [controller]);
        }
        return Walk(mount, path);
    }

    private static IReadOnlyList<string> Walk(Mount mount, string? cgroupPath)
    {
        var mountPoint = mount.MountPoint.TrimEnd('/');
        if (mountPoint.Length == 0) mountPoint = "/";
        string relative;
        if (string.IsNullOrEmpty(cgroupPath)) relative = "";
        else if (mount.Root == "/") relative = cgroupPath;
        else if (cgroupPath == mount.Root || cgroupPath.StartsWith(mount.Root + "/", StringComparison.Ordinal))
            relative = cgroupPath[mount.Root.Length..];
        else relative = ""; // a cgroup namespace: the mount point already is our cgroup
        relative = relative.Trim('/');

        var dirs = new List<string>();
        var parts = relative.Length == 0 ? [] : relative.Split('/');
        for (var n = parts.Length; n >= 0; n--)
            dirs.Add(n == 0 ? mountPoint : mountPoint.TrimEnd('/') + "/" + string.Join('/', parts.Take(n)));
        return dirs;
    }

    private static List<(string, string)> ParseProcCgroup(string? text)
    {
        var list = new List<(string, string)>();
        foreach (var line in Lines(text))
        {
            // hierarchy-ID:controller-list:path ; the path may itself contain ':'
            var first = line.IndexOf(':');
            var second = first < 0 ? -1 : line.IndexOf(':', first + 1);
            if (second < 0) continue;
            list.Add((line[(first + 1)..second], line[(second + 1)..]));
        }
        return list;
    }

    private static List<Mount> ParseMountInfo(string? text)
    {
        var mounts = new List<Mount>();
        foreach (var line in Lines(text))
        {
            var fields = line.Split(' ');
            var dash = Array.IndexOf(fields, "-");
            if (fields.Length < 5 || dash < 6 || dash + 3 > fields.Length) continue;
            var fsType = fields[dash + 1];
            if (fsType is not ("cgroup" or "cgroup2")) continue;
            var superOptions = dash + 3 < fields.Length ? fields[dash + 3].Split(',') : [];
            mounts.Add(new Mount(Unescape(fields[3]), Unescape(fields[4]), fsType, superOptions));
        }
        return mounts;
    }

    /// <summary>mountinfo escapes space, tab, newline and backslash as \ooo octal.</summary>
    private static string Unescape(string s)
    {
        if (!s.Contains('\\')) return s;
        var sb = new StringBuilder();
        for (var i = 0; i < s.Length; i++)
        {
            if (s[i] == '\\' && i + 3 < s.Length
                && s.AsSpan(i + 1, 3).IndexOfAnyExceptInRange('0', '7') < 0)
            {
                sb.Append((char)Convert.ToInt32(s.Substring(i + 1, 3), 8));
                i += 3;
            }
            else sb.Append(s[i]);
        }
        return sb.ToString();
    }

    internal static IEnumerable<string> Lines(string? text) =>
        text is null ? [] : text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
