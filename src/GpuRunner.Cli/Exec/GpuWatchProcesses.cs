namespace GpuRunner.Cli.Exec;

/// <summary>The app's processes as the runner sees them: every descendant of this process (from /proc), so the
/// per-process GPU memory of a heartbeat counts the app and whatever it spawned, and nothing else.</summary>
public static class GpuWatchProcesses
{
    public static IReadOnlySet<int> Descendants(int root)
    {
        var parents = new Dictionary<int, int>();
        try
        {
            foreach (var dir in Directory.EnumerateDirectories("/proc"))
            {
                if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
                string stat;
                try { stat = File.ReadAllText(Path.Combine(dir, "stat")); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { continue; } // exited meanwhile
                // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so parse after the last ')'.
                var close = stat.LastIndexOf(')');
                var fields = close < 0 ? [] : stat[(close + 2)..].Split(' ', 3);
                if (fields.Length >= 2 && int.TryParse(fields[1], out var ppid)) parents[pid] = ppid;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        var found = new HashSet<int>();
        var grew = true;
        while (grew)
        {
            grew = false;
            foreach (var (pid, ppid) in parents)
                if ((ppid == root || found.Contains(ppid)) && found.Add(pid)) grew = true;
        }
        return found;
    }
}
