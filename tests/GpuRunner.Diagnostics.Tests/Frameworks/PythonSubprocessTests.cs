using System.Diagnostics;
using GpuRunner.Diagnostics.Checks;
using GpuRunner.Diagnostics.Frameworks;

namespace GpuRunner.Diagnostics.Tests.Frameworks;

/// <summary>The real subprocess path: this machine's python3, with fake framework modules on PYTHONPATH.</summary>
public sealed class PythonSubprocessTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gpurunner-py-").FullName;
    private static string? Python => PythonLocator.Find();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private PythonCheckOptions Options(TimeSpan? timeout = null) => new()
    {
        GpuPresent = true,
        Timeout = timeout ?? TimeSpan.FromSeconds(60),
        Environment = new Dictionary<string, string?> { ["PYTHONPATH"] = _dir },
    };

    private void FakeModule(string name, string code)
    {
        Directory.CreateDirectory(Path.Combine(_dir, name));
        File.WriteAllText(Path.Combine(_dir, name, "__init__.py"), code);
    }

    [SkippableFact]
    public async Task FrameworksMissingFromThisPythonAreSkipped()
    {
        Skip.If(Python is null, "no python3 on PATH");
        // Hide whatever this machine has installed (site-packages, dist-packages): python imports the sitecustomize
        // on PYTHONPATH after site set sys.path up, so none of the three frameworks is importable, whatever the host.
        File.WriteAllText(Path.Combine(_dir, "sitecustomize.py"),
            "import sys\nsys.path[:] = [p for p in sys.path if 'site-packages' not in p and 'dist-packages' not in p]\n");
        foreach (var f in Enum.GetValues<PythonFramework>())
        {
            var module = PythonFrameworkCheck.IdOf(f).Split('.')[1];
            var hidden = await ProcessRunner.RunAsync(Python!, ["-c", $"import importlib.util,sys; sys.exit(0 if importlib.util.find_spec('{module}') else 1)"],
                TimeSpan.FromSeconds(30), new Dictionary<string, string?> { ["PYTHONPATH"] = _dir });
            Assert.True(hidden.ExitCode == 1, $"{module} is still importable with site-packages hidden: exit {hidden.ExitCode} {hidden.StdErr}");
            var r = await new PythonFrameworkCheck(f, Options()).RunAsync(gpuPresent: true);
            Assert.True(r.Status == CheckStatus.Skip, $"{module}: {r.Status} {r.Evidence}");
            Assert.Contains("not installed", r.Evidence);
        }
    }

    [SkippableFact]
    public async Task FakeCpuOnlyTorchIsDiagnosedThroughTheRealSubprocess()
    {
        Skip.If(Python is null, "no python3 on PATH");
        // Behaves like a CPU-only wheel: version.cuda None, current_device() raises the real assertion text.
        FakeModule("torch", """
import sys, types
__version__ = "2.3.1+cpu"
version = types.SimpleNamespace(cuda=None)
class _Cuda:
    def is_available(self): return False
    def device_count(self): return 0
    def current_device(self): raise AssertionError("Torch not compiled with CUDA enabled")
    def get_device_name(self, i): raise AssertionError("Torch not compiled with CUDA enabled")
cuda = _Cuda()
""");
        var torch = await new PythonFrameworkCheck(PythonFramework.Torch, Options()).RunAsync(gpuPresent: true);
        Assert.Equal(CheckStatus.Fail, torch.Status);
        Assert.Equal("torch-cpu-wheel", torch.Diagnosis?.Name);
        Assert.Contains("2.3.1+cpu", torch.Evidence);
    }

    [SkippableFact]
    public async Task HungImportIsKilledWithItsChildren()
    {
        Skip.If(Python is null, "no python3 on PATH");
        var pidFile = Path.Combine(_dir, "child.pid");
        // A jax whose import starts a grandchild and then hangs, like a wedged CUDA init.
        FakeModule("jax", $$"""
import subprocess, time
p = subprocess.Popen(["sleep", "300"])
open(r"{{pidFile}}", "w").write(str(p.pid))
time.sleep(300)
""");
        var sw = Stopwatch.StartNew();
        var outcome = await ProcessRunner.RunAsync(Python!, ["-c", PythonSnippets.Jax], TimeSpan.FromSeconds(3),
            new Dictionary<string, string?> { ["PYTHONPATH"] = _dir });
        Assert.True(outcome.TimedOut);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(30), $"took {sw.Elapsed}");
        var result = PythonFrameworkCheck.Interpret(PythonFramework.Jax, outcome, true);
        Assert.Equal(CheckStatus.Fail, result.Status);
        Assert.True(File.Exists(pidFile), "the fake module never ran");
        var childPid = int.Parse(File.ReadAllText(pidFile));
        // The grandchild must be gone too (kill of the whole tree), allowing the kernel a moment to reap it.
        for (var i = 0; i < 50 && IsAlive(childPid); i++) await Task.Delay(100);
        Assert.False(IsAlive(childPid), $"grandchild {childPid} survived the timeout");
    }

    private static bool IsAlive(int pid)
    {
        // A zombie (state Z) is dead for our purposes: only its parent's reaping is left.
        var stat = $"/proc/{pid}/stat";
        if (!File.Exists(stat)) return false;
        try { return !File.ReadAllText(stat).Split(')')[1].TrimStart().StartsWith('Z'); }
        catch (IOException) { return false; }
    }

    [Fact]
    public async Task MissingPythonGivenExplicitlyIsFail()
    {
        var r = await new PythonFrameworkCheck(PythonFramework.Jax, new PythonCheckOptions { Python = "/no/such/python" }).RunAsync(gpuPresent: true);
        Assert.Equal(CheckStatus.Fail, r.Status);
        Assert.Contains("/no/such/python", r.Evidence);
    }
}
