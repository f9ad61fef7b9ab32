using GpuRunner.Diagnostics.Frameworks;

namespace GpuRunner.Diagnostics.Tests.Frameworks;

public sealed class TorchSharpLoaderTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gpurunner-libtorch-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly string PackagedLibTorchSharp =
        Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");

    [Fact]
    public void GlibcxxFailureIsExplainedWithBothVersions()
    {
        // The loader's words on Debian 12 for TorchSharp 0.107's libLibTorchSharp.so.
        var dlerror = "/lib/x86_64-linux-gnu/libstdc++.so.6: version `GLIBCXX_3.4.32' not found (required by /app/libLibTorchSharp.so)";
        var d = TorchSharpLoader.Explain(dlerror, "/app/libLibTorchSharp.so", "/lib/x86_64-linux-gnu/libstdc++.so.6",
            [new Version(3, 4, 29), new Version(3, 4, 30)]);
        Assert.Equal("glibcxx-too-old", d.Name);
        Assert.Contains("libLibTorchSharp.so needs GLIBCXX_3.4.32", d.Cause);
        Assert.Contains("only up to GLIBCXX_3.4.30", d.Cause);
        Assert.Contains("not restored", d.Cause); // says TorchSharp's message is wrong
    }

    [Fact]
    public void MissingSymbolIsPrinted()
    {
        var d = TorchSharpLoader.Explain("/app/libLibTorchSharp.so: undefined symbol: _ZN2at4_ops5zeros4callEN3c108ArrayRefINS2_6SymIntEEE",
            "/app/libLibTorchSharp.so");
        Assert.Equal("libtorch-symbol-missing", d.Name);
        Assert.Contains("_ZN2at4_ops5zeros4callEN3c108ArrayRefINS2_6SymIntEEE", d.Cause);
    }

    [Fact]
    public void MissingDependencyIsNamed()
    {
        var d = TorchSharpLoader.Explain("libcudnn.so.9: cannot open shared object file: No such file or directory",
            "/venv/lib/python3.12/site-packages/torch/lib/libtorch_cuda.so");
        Assert.Equal("libtorch-dependency-missing", d.Name);
        Assert.Contains("libcudnn.so.9", d.Cause);
    }

    [Fact]
    public async Task NoLibTorchAnywhereSaysWhereItLooked()
    {
        var load = await TorchSharpLoader.LoadAsync(new LibTorchOptions
        {
            LibTorchDir = Path.Combine(_dir, "nope"), AskPython = false, AppDirectories = [_dir],
        });
        Assert.False(load.Loaded);
        Assert.Equal("libtorch-not-found", load.Diagnosis?.Name);
        Assert.Contains(Path.Combine(_dir, "nope"), load.Diagnosis!.Cause);
        Assert.Contains("TorchSharp-cpu/cuda", load.Diagnosis.Cause);
    }

    [Fact]
    public void ThisMachinesLibStdCxxIsScanned()
    {
        var std = LibStdCxx.SystemLibrary();
        Assert.NotNull(std);
        var versions = LibStdCxx.Versions(std!);
        Assert.NotEmpty(versions);
        Assert.True(versions[^1] >= new Version(3, 4, 20), $"highest {versions[^1]}");
        // And TorchSharp 0.107's native library really asks for GLIBCXX_3.4.32.
        Assert.Contains(new Version(3, 4, 32), LibStdCxx.Versions(PackagedLibTorchSharp));
    }

    [SkippableFact]
    public async Task RealLoadOnAnOldLibStdCxxNamesGlibcxxNotRestore()
    {
        // The real failure, end to end: stub libc10/libtorch_cpu/libtorch (built here with gcc, CPU-only layout) let
        // the loader reach the real libLibTorchSharp.so, which the dynamic loader rejects on Debian 12.
        var highest = LibStdCxx.Versions(LibStdCxx.SystemLibrary()!)[^1];
        Skip.If(highest >= new Version(3, 4, 32), $"this libstdc++ has {highest}: libLibTorchSharp loads here");
        var gcc = PythonLocator.FindOnPath("gcc");
        Skip.If(gcc is null, "gcc not installed");
        var src = Path.Combine(_dir, "stub.c");
        File.WriteAllText(src, "int gpurunner_stub(void) { return 0; }\n");
        foreach (var lib in new[] { "libc10.so", "libtorch_cpu.so", "libtorch.so" })
        {
            var r = await ProcessRunner.RunAsync(gcc!, ["-shared", "-fPIC", $"-Wl,-soname,{lib}", "-o", Path.Combine(_dir, lib), src], TimeSpan.FromSeconds(60));
            Assert.True(r.ExitCode == 0, r.StdErr);
        }
        var load = await TorchSharpLoader.LoadAsync(new LibTorchOptions
        {
            LibTorchDir = _dir, AskPython = false, AppDirectories = [Path.GetDirectoryName(PackagedLibTorchSharp)!],
        });
        Assert.False(load.Loaded);
        Assert.False(load.HasCuda);
        Assert.True(load.Diagnosis?.Name == "glibcxx-too-old", string.Join("\n", load.Trace));
        Assert.Contains("GLIBCXX_3.4.32", load.Diagnosis!.Cause);
        Assert.Contains($"GLIBCXX_{highest}", load.Diagnosis.Cause);
    }
}
