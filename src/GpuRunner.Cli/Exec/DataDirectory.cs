namespace GpuRunner.Cli.Exec;

/// <summary>Where the runner keeps its state: $GPURUNNER_DATA, else $XDG_DATA_HOME/gpurunner, else ~/.local/share/gpurunner.</summary>
public static class DataDirectory
{
    public static string Resolve(Func<string, string?>? env = null)
    {
        env ??= Environment.GetEnvironmentVariable;
        var explicitDir = env("GPURUNNER_DATA");
        if (!string.IsNullOrWhiteSpace(explicitDir)) return Path.GetFullPath(explicitDir);
        var xdg = env("XDG_DATA_HOME");
        if (!string.IsNullOrWhiteSpace(xdg)) return Path.Combine(xdg, "gpurunner");
        var home = env("HOME");
        if (string.IsNullOrWhiteSpace(home)) home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return Path.Combine(home, ".local", "share", "gpurunner");
    }
}
