namespace GpuRunner.Core.Services;

/// <summary>
/// How many connections the core may hold open. Every connection is a file descriptor; when the process runs out,
/// accept() fails with EMFILE and so does everything else that needs one (the database's files, the runtime's own
/// pipes), and the process dies. Kestrel's connection limit, set below the descriptor limit with room for what the
/// process already holds and for the database, keeps a flood from ever reaching it: connections over the limit are
/// accepted and closed at once, so their descriptors come straight back.
/// </summary>
public static class ConnectionLimits
{
    /// <summary>Used when the limit cannot be read (not Linux).</summary>
    public const int Fallback = 4096;

    /// <summary>The soft RLIMIT_NOFILE of this process (from /proc/self/limits), or null when unknown or unlimited.</summary>
    public static long? OpenFileLimit()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/limits"))
            {
                if (!line.StartsWith("Max open files", StringComparison.Ordinal)) continue;
                var parts = line["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                return parts.Length > 0 && long.TryParse(parts[0], out var soft) ? soft : null;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        return null;
    }

    /// <summary>Descriptors this process holds now (assemblies, pipes, the database), or null when unknown.</summary>
    public static int? OpenFiles()
    {
        try { return Directory.GetFileSystemEntries("/proc/self/fd").Length; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    /// <summary>
    /// The descriptor limit, less what is open now, less a reserve for the database, log files and the runtime
    /// (128 plus 1/16 of the limit). At least 16, so a tiny limit still serves someone.
    /// </summary>
    public static int Derive(long? fdLimit, int? openNow)
    {
        if (fdLimit is not { } limit || limit <= 0) return Fallback;
        var reserve = (openNow ?? 256) + 128 + limit / 16;
        return (int)Math.Clamp(limit - reserve, 16, 1_000_000);
    }
}
