using GpuRunner.Native.Loading;
using GpuRunner.Tests.Fakes;

namespace GpuRunner.Native.Tests;

public class LoaderTests
{
    private static Func<string, string?> Env(params (string, string)[] vars) =>
        name => vars.FirstOrDefault(v => v.Item1 == name).Item2;

    [Fact]
    public void AbsentLibraryIsNotLoadedAndEveryPlaceIsTraced()
    {
        var empty = Directory.CreateTempSubdirectory("gpurunner-empty-").FullName;
        var loader = new NativeLoader(Env((NativeLoader.NvmlPathVariable, empty)), folders: ["/nonexistent/a", "/nonexistent/b"], defaultSearch: false);
        var result = loader.Nvml;
        Assert.False(result.Loaded);
        Assert.Null(result.LoadedFrom);
        Assert.Equal(
        [
            $"tried {empty}/libnvidia-ml.so.1: no such file", $"tried {empty}/libnvidia-ml.so: no such file",
            "tried /nonexistent/a/libnvidia-ml.so.1: no such file", "tried /nonexistent/a/libnvidia-ml.so: no such file",
            "tried /nonexistent/b/libnvidia-ml.so.1: no such file", "tried /nonexistent/b/libnvidia-ml.so: no such file",
        ], result.TraceLines);
    }

    [Fact]
    public void DefaultSearchComesAfterTheOverrideAndBeforeTheContainerFolders()
    {
        var loader = new NativeLoader(Env((NativeLoader.CudaPathVariable, "/opt/x/libcuda.so.1")));
        var candidates = loader.Candidates(DriverLibrary.Cuda).ToList();
        Assert.Equal("/opt/x/libcuda.so.1", candidates[0]);
        Assert.Equal(["libcuda.so.1", "libcuda.so"], candidates[1..3]);
        Assert.Equal(["/usr/local/nvidia/lib64/libcuda.so.1", "/usr/local/nvidia/lib64/libcuda.so"], candidates[3..5]);
        Assert.Contains("/usr/lib/x86_64-linux-gnu/libcuda.so.1", candidates);
        Assert.Equal("/usr/lib/wsl/lib/libcuda.so", candidates[^1]);
    }

    [Fact]
    public void DlerrorTextIsKeptForAFileThatIsNotALibrary()
    {
        var bogus = Path.Combine(Directory.CreateTempSubdirectory().FullName, "libnvidia-ml.so.1");
        File.WriteAllText(bogus, new string('x', 4096)); // long enough that dlopen reads the header
        var loader = new NativeLoader(Env((NativeLoader.NvmlPathVariable, bogus)), folders: [], defaultSearch: false);
        var attempt = Assert.Single(loader.Nvml.Trace);
        Assert.False(attempt.Loaded);
        Assert.Contains("invalid ELF header", attempt.Error);
    }

    [Fact]
    public void OverrideFolderFindsTheVersionedName()
    {
        var loader = new NativeLoader(Env((NativeLoader.NvmlPathVariable, FakeDrivers.Folder)), folders: [], defaultSearch: false);
        Assert.True(loader.Nvml.Loaded);
        Assert.Equal(Path.Combine(FakeDrivers.Folder, "libnvidia-ml.so.1"), loader.Nvml.LoadedFrom);
        Assert.Equal($"tried {FakeDrivers.Folder}/libnvidia-ml.so.1: loaded", Assert.Single(loader.Nvml.TraceLines));
    }
}
