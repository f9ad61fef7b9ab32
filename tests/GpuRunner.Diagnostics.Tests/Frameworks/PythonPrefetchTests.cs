using GpuRunner.Diagnostics.Checks;
using GpuRunner.Diagnostics.Frameworks;

namespace GpuRunner.Diagnostics.Tests.Frameworks;

/// <summary>verify starts every Python snippet up front, so they run side by side with each other and the native checks.</summary>
public sealed class PythonPrefetchTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gpurunner-prefetch-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    // Each fake framework announces that its import began, then blocks until the test releases it: both "started"
    // files can only exist together if the two subprocesses run at the same time.
    private void GatedModule(string name, string body)
    {
        Directory.CreateDirectory(Path.Combine(_dir, name));
        File.WriteAllText(Path.Combine(_dir, name, "__init__.py"), $$"""
import os, time
open(os.path.join({{Quote(_dir)}}, "{{name}}.started"), "w").close()
for _ in range(600):
    if os.path.exists(os.path.join({{Quote(_dir)}}, "release")): break
    time.sleep(0.05)
{{body}}
""");
    }

    private static string Quote(string s) => "'" + s.Replace("\\", "\\\\").Replace("'", "\\'") + "'";

    [SkippableFact]
    public async Task PrefetchedSnippetsRunConcurrentlyAndReportInOrder()
    {
        Skip.If(PythonLocator.Find() is null, "no python3 on PATH");
        GatedModule("torch", """
import types
__version__ = "2.11.0+cu130"
version = types.SimpleNamespace(cuda="13.0")
class _Cuda:
    def is_available(self): return True
    def device_count(self): return 1
    def current_device(self): return 0
    def get_device_name(self, i): return "NVIDIA H200"
cuda = _Cuda()
class _T:
    def __init__(self, v): self.v = v
    def to(self, device): return self
    def __mul__(self, k): return _T([x * k for x in self.v])
    def sum(self): return _T([sum(self.v)])
    def item(self): return self.v[0]
def ones(n): return _T([1.0] * n)
""");
        GatedModule("jax", "");
        var options = new PythonCheckOptions
        {
            GpuPresent = true,
            Timeout = TimeSpan.FromSeconds(60),
            Environment = new Dictionary<string, string?> { ["PYTHONPATH"] = _dir },
        };
        var torch = new PythonFrameworkCheck(PythonFramework.Torch, options);
        var jax = new PythonFrameworkCheck(PythonFramework.Jax, options);
        torch.Prefetch(CancellationToken.None);
        jax.Prefetch(CancellationToken.None);

        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!(File.Exists(Path.Combine(_dir, "torch.started")) && File.Exists(Path.Combine(_dir, "jax.started"))) && DateTime.UtcNow < deadline)
            await Task.Delay(50);
        Assert.True(File.Exists(Path.Combine(_dir, "torch.started")), "torch snippet did not start on Prefetch");
        Assert.True(File.Exists(Path.Combine(_dir, "jax.started")), "jax snippet did not start alongside torch");

        File.WriteAllText(Path.Combine(_dir, "release"), "");
        var t = await torch.RunAsync(gpuPresent: true);
        Assert.True(t.Status == CheckStatus.Pass, $"{t.Status}: {t.Evidence}");
        Assert.Contains("NVIDIA H200", t.Evidence);
        // The fake jax has no devices(): the real snippet reports that, proving its own subprocess result was used.
        var j = await jax.RunAsync(gpuPresent: true);
        Assert.NotEqual(CheckStatus.Pass, j.Status);
    }
}
