using System.Diagnostics;

namespace GpuRunner.Tests.Fakes;

/// <summary>
/// Builds the stand-in libnvidia-ml.so.1 and libcuda.so.1 (tests/fakes/*.c) once per test process with gcc, into
/// a temporary folder that GPURUNNER_NVML_PATH / GPURUNNER_CUDA_PATH can point at. Without gcc the tests that
/// need the fakes fail with a message that says so (.ci/run installs gcc).
/// </summary>
public static class FakeDrivers
{
    private static readonly Lazy<string> Built = new(Build);

    /// <summary>The folder holding both fake libraries.</summary>
    public static string Folder => Built.Value;

    private static string Build()
    {
        var sources = Path.Combine(AppContext.BaseDirectory, "fakes");
        if (!File.Exists(Path.Combine(sources, "fake_nvml.c")))
            throw new InvalidOperationException($"fake driver sources missing from {sources} (tests/fakes/*.c should be copied to the test output)");
        var folder = Path.Combine(Path.GetTempPath(), $"gpurunner-fakes-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        Compile(Path.Combine(sources, "fake_nvml.c"), Path.Combine(folder, "libnvidia-ml.so.1"));
        Compile(Path.Combine(sources, "fake_cuda.c"), Path.Combine(folder, "libcuda.so.1"));
        return folder;
    }

    private static void Compile(string source, string output)
    {
        var psi = new ProcessStartInfo("gcc", ["-shared", "-fPIC", "-O1", "-Wall", "-o", output, source])
        {
            RedirectStandardError = true, RedirectStandardOutput = true,
        };
        Process process;
        try { process = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException(
                "gcc not found: the fault-injection tests compile stand-in libnvidia-ml.so.1/libcuda.so.1 from tests/fakes/*.c. " +
                "Install it (apt-get install gcc libc6-dev; .ci/run does this).", e);
        }
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0) throw new InvalidOperationException($"gcc failed on {source}: {stderr}");
    }
}
