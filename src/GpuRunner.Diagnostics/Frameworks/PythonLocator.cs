namespace GpuRunner.Diagnostics.Frameworks;

/// <summary>Finds the Python whose frameworks we check: --python PATH, else python3 then python on PATH.</summary>
public static class PythonLocator
{
    public static string? Find(string? explicitPath = null, string? pathVariable = null)
    {
        if (!string.IsNullOrEmpty(explicitPath))
            return File.Exists(explicitPath) ? Path.GetFullPath(explicitPath) : null;
        return FindOnPath("python3", pathVariable) ?? FindOnPath("python", pathVariable);
    }

    public static string? FindOnPath(string name, string? pathVariable = null)
    {
        var path = pathVariable ?? Environment.GetEnvironmentVariable("PATH") ?? "";
        foreach (var dir in path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate) && IsExecutable(candidate)) return candidate;
        }
        return null;
    }

    private static bool IsExecutable(string file) =>
        OperatingSystem.IsWindows() ||
        (File.GetUnixFileMode(file) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0;
}

/// <summary>Whether this host shows an NVIDIA GPU at all (device nodes or the driver's proc entries), without loading NVML.</summary>
public static class GpuPresence
{
    public static bool Probe() =>
        File.Exists("/dev/nvidiactl") || File.Exists("/dev/nvidia0") ||
        (Directory.Exists("/proc/driver/nvidia/gpus") && Directory.EnumerateFileSystemEntries("/proc/driver/nvidia/gpus").Any());
}
