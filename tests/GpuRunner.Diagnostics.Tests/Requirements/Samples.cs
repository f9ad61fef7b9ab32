namespace GpuRunner.Diagnostics.Tests.Requirements;

/// <summary>The shipped requirements/samples/ folder, found from the test binary up to the repository root.</summary>
public static class Samples
{
    public static string Dir { get; } = Find();

    public static string Path(string name) => System.IO.Path.Combine(Dir, name);

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = System.IO.Path.Combine(dir.FullName, "requirements", "samples");
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "GpuRunner.sln")) && Directory.Exists(candidate))
                return candidate;
        }
        throw new InvalidOperationException("requirements/samples not found above " + AppContext.BaseDirectory);
    }
}
