using System.Text.Json;
using GpuRunner.Tests.Fakes;

namespace GpuRunner.Cli.Tests;

/// <summary>
/// Each known driver failure staged through the real loader against the stand-in libraries (tests/fakes): the
/// command must name the diagnosis and return the documented exit code, never crash.
/// </summary>
public class FaultInjectionTests
{
    /// <summary>The native checks only: the framework checks (python/onnx/torch/model) need real libraries, not the fakes.</summary>
    private const string NativeChecks = "driver.library,nvml.init,cuda.init,device.visible,gpu.health,cuda.memory,cuda.kernel,tier.match";

    private static Dictionary<string, string?> Fake(params (string Key, string Value)[] settings)
    {
        var env = new Dictionary<string, string?>
        {
            ["GPURUNNER_NVML_PATH"] = FakeDrivers.Folder,
            ["GPURUNNER_CUDA_PATH"] = FakeDrivers.Folder,
        };
        foreach (var (k, v) in settings) env[k] = v;
        return env;
    }

    private static JsonElement Check(JsonDocument report, string id) =>
        report.RootElement.GetProperty("checks").EnumerateArray().Single(c => c.GetProperty("id").GetString() == id);

    private static (int Code, JsonDocument Report) VerifyJson(Dictionary<string, string?> env, params string[] extra)
    {
        var r = GpuRunnerProcess.Run(env, ["verify", "--json", "--only", NativeChecks, .. extra]);
        Assert.True(r.StdErr.Length == 0, $"stderr: {r.StdErr}");
        return (r.Code, JsonDocument.Parse(r.StdOut));
    }

    private static void AssertFailedWith(JsonDocument report, string id, string diagnosisName)
    {
        var check = Check(report, id);
        Assert.Equal("FAIL", check.GetProperty("status").GetString());
        Assert.StartsWith(diagnosisName + ":", check.GetProperty("diagnosis").GetProperty("cause").GetString());
        Assert.False(string.IsNullOrWhiteSpace(check.GetProperty("diagnosis").GetProperty("fix").GetString()));
        Assert.Equal("FAIL", report.RootElement.GetProperty("verdict").GetString());
    }

    [Fact]
    public void WorkingFakeGpuPassesEveryNativeCheck()
    {
        var (code, report) = VerifyJson(Fake());
        Assert.Equal(0, code);
        foreach (var id in new[] { "driver.library", "nvml.init", "cuda.init", "device.visible", "gpu.health", "cuda.memory", "cuda.kernel" })
            Assert.Equal("PASS", Check(report, id).GetProperty("status").GetString());
        Assert.Equal("PASS", report.RootElement.GetProperty("verdict").GetString());
    }

    [Theory]
    [InlineData("DRIVER_NOT_LOADED", "nvml-driver-not-loaded", "NVML_ERROR_DRIVER_NOT_LOADED")]
    [InlineData("LIB_RM_VERSION_MISMATCH", "nvml-driver-library-mismatch", "NVML_ERROR_LIB_RM_VERSION_MISMATCH")]
    [InlineData("UNKNOWN", "nvml-unknown-error", "NVML_ERROR_UNKNOWN")]
    public void NvmlInitFailureIsNamed(string mode, string diagnosis, string symbol)
    {
        var (code, report) = VerifyJson(Fake(("FAKE_NVML_INIT", mode)));
        Assert.Equal(1, code);
        AssertFailedWith(report, "nvml.init", diagnosis);
        Assert.Contains(symbol, Check(report, "nvml.init").GetProperty("evidence").GetString());
        // CUDA is independent of NVML: it still initialises and runs the kernel.
        Assert.Equal("PASS", Check(report, "cuda.kernel").GetProperty("status").GetString());

        var detect = GpuRunnerProcess.Run(Fake(("FAKE_NVML_INIT", mode)), "detect");
        Assert.Equal(1, detect.Code);
        Assert.Contains(diagnosis, detect.StdOut);
    }

    [Theory]
    [InlineData("100", "cuda-no-device", "CUDA_ERROR_NO_DEVICE")]
    [InlineData("35", "cuda-driver-too-old", "CUDA_ERROR_INSUFFICIENT_DRIVER")]
    [InlineData("999", "cuda-unknown-error", "CUDA_ERROR_UNKNOWN")]
    public void CuInitFailureIsNamed(string result, string diagnosis, string name)
    {
        var (code, report) = VerifyJson(Fake(("FAKE_CUDA_INIT", result)));
        Assert.Equal(1, code);
        AssertFailedWith(report, "cuda.init", diagnosis);
        Assert.Contains(name, Check(report, "cuda.init").GetProperty("evidence").GetString());
        Assert.Equal("SKIP", Check(report, "cuda.kernel").GetProperty("status").GetString());
        Assert.Equal("PASS", Check(report, "nvml.init").GetProperty("status").GetString());
    }

    [Fact]
    public void NoDeviceExplainsCudaVisibleDevices()
    {
        var (code, report) = VerifyJson(Fake(("FAKE_CUDA_INIT", "100"), ("CUDA_VISIBLE_DEVICES", "-1")));
        Assert.Equal(1, code);
        AssertFailedWith(report, "device.visible", "no-visible-device");
        Assert.Contains("CUDA_VISIBLE_DEVICES='-1' hides every GPU",
            Check(report, "device.visible").GetProperty("diagnosis").GetProperty("cause").GetString());
    }

    [Fact]
    public void NoDeviceExplainsMig()
    {
        var (_, report) = VerifyJson(Fake(("FAKE_CUDA_INIT", "100"), ("FAKE_GPU_MIG", "1")));
        Assert.Contains("MIG is enabled on GPU 0",
            Check(report, "device.visible").GetProperty("diagnosis").GetProperty("cause").GetString());
    }

    [Fact]
    public void HungDriverCallTimesOutAndTheCommandFinishes()
    {
        var env = Fake(("FAKE_NVML_HANG", "nvmlDeviceGetCount_v2"));
        // --timeout bounds every check: 3 s, not 1, so that the later checks' own work (a PTX JIT) fits it on a
        // loaded machine; the hung call never returns, so it times out whatever the bound.
        var r = GpuRunnerProcess.Run(env, TimeSpan.FromSeconds(60), "verify", "--json", "--only", NativeChecks, "--timeout", "3");
        Assert.Equal(1, r.Code);
        using var report = JsonDocument.Parse(r.StdOut);
        var nvml = Check(report, "nvml.init");
        Assert.Equal("FAIL", nvml.GetProperty("status").GetString());
        Assert.Equal("timed out after 3 s", nvml.GetProperty("evidence").GetString());
        Assert.StartsWith("driver-call-hung:", nvml.GetProperty("diagnosis").GetProperty("cause").GetString());
        Assert.Equal("PASS", Check(report, "cuda.kernel").GetProperty("status").GetString()); // later checks still ran

        var detect = GpuRunnerProcess.Run(env, TimeSpan.FromSeconds(60), "detect", "--timeout", "1");
        Assert.Equal(1, detect.Code);
        Assert.Contains("NVML did not answer within 1 s", detect.StdOut);
    }

    [Fact]
    public void UnsupportedFieldIsNullWithItsNvmlCode()
    {
        var r = GpuRunnerProcess.Run(Fake(("FAKE_NVML_UNSUPPORTED", "power")), "detect", "--json");
        Assert.Equal(0, r.Code);
        using var report = JsonDocument.Parse(r.StdOut);
        var gpu = report.RootElement.GetProperty("gpus")[0];
        Assert.Equal(JsonValueKind.Null, gpu.GetProperty("powerDrawW").ValueKind);
        Assert.Equal(JsonValueKind.Null, gpu.GetProperty("powerLimitW").ValueKind);
        var unsupported = gpu.GetProperty("unsupported").EnumerateArray()
            .Select(u => (u.GetProperty("field").GetString(), u.GetProperty("code").GetString())).ToList();
        Assert.Contains(("power.draw", "NVML_ERROR_NOT_SUPPORTED"), unsupported);
        Assert.Contains(("power.limit", "NVML_ERROR_NOT_SUPPORTED"), unsupported);
        Assert.Equal(31, gpu.GetProperty("temperatureC").GetInt32()); // the rest still reads

        var plain = GpuRunnerProcess.Run(Fake(("FAKE_NVML_UNSUPPORTED", "power")), "detect");
        Assert.Contains("n/a W of n/a W", plain.StdOut);
        Assert.Contains("power.draw (NVML_ERROR_NOT_SUPPORTED)", plain.StdOut);
    }

    [Fact]
    public void WrongKernelResultIsCaughtOnTheHost()
    {
        var (code, report) = VerifyJson(Fake(("FAKE_CUDA_KERNEL", "wrong")));
        Assert.Equal(1, code);
        AssertFailedWith(report, "cuda.kernel", "kernel-wrong-result");
        Assert.Contains("c[7]", Check(report, "cuda.kernel").GetProperty("evidence").GetString());
    }

    [Fact]
    public void OutOfMemoryIsNamed()
    {
        var (code, report) = VerifyJson(Fake(("FAKE_CUDA_ALLOC", "2")));
        Assert.Equal(1, code);
        AssertFailedWith(report, "cuda.memory", "cuda-out-of-memory");
    }

    private static Dictionary<string, string?> NoDriver()
    {
        Skip.If(System.Runtime.InteropServices.NativeLibrary.TryLoad("libnvidia-ml.so.1", out _),
            "a real NVIDIA driver is installed here, so an absent library cannot be staged");
        var empty = Directory.CreateTempSubdirectory("gpurunner-empty-").FullName;
        return new() { ["GPURUNNER_NVML_PATH"] = empty, ["GPURUNNER_CUDA_PATH"] = empty };
    }

    /// <summary>A catalogue whose CPU tier every machine meets, beside a GPU tier: the verdict must not hang on this host's size.</summary>
    private static string SmallCatalogue()
    {
        var path = Path.Combine(Path.GetTempPath(), $"gpurunner-cat-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, """
            {"flavors": [
              {"id": "tiny-cpu", "vcpu": 1, "ramGB": 1, "diskGB": 1, "priceMicroUsdPerHour": 0},
              {"id": "tiny-t4", "gpu": {"model": "T4", "count": 1, "memoryGB": 16}, "vcpu": 1, "ramGB": 1, "diskGB": 1, "priceMicroUsdPerHour": 600000}
            ]}
            """);
        return path;
    }

    [SkippableFact]
    public void AbsentLibraryWhereAGpuIsExpectedIsNoDriverWithTheTrace()
    {
        var env = NoDriver();
        var empty = env["GPURUNNER_NVML_PATH"];

        var verify = GpuRunnerProcess.Run(env, "verify", "--only", NativeChecks, "--expect", "t4-small");
        Assert.Equal(1, verify.Code);
        Assert.Matches(@"FAIL  driver\.library  no NVIDIA driver found, but t4-small has a GPU", verify.StdOut);
        Assert.Contains("cause: no-nvidia-driver:", verify.StdOut);
        Assert.Contains($"tried {empty}/libnvidia-ml.so.1: no such file", verify.StdOut);
        Assert.Contains("tried /usr/local/nvidia/lib64/libcuda.so.1", verify.StdOut);
        Assert.Matches(@"verdict FAIL: 0 passed, 0 warned, \d failed, \d+ skipped", verify.StdOut);

        var detect = GpuRunnerProcess.Run(env, "detect", "--json");
        Assert.Equal(0, detect.Code); // no GPU is an answer, not an error
        using var report = JsonDocument.Parse(detect.StdOut);
        Assert.False(report.RootElement.GetProperty("driver").GetProperty("loaded").GetBoolean());
        Assert.Empty(report.RootElement.GetProperty("gpus").EnumerateArray());
        Assert.Contains(report.RootElement.GetProperty("driver").GetProperty("searchTrace").EnumerateArray(),
            t => t.GetString() == "tried libnvidia-ml.so.1: libnvidia-ml.so.1: cannot open shared object file: No such file or directory");
    }

    [SkippableFact]
    public void AHostWithoutADriverPassesOnACpuTierAndFailsOnAGpuTier()
    {
        var env = NoDriver();
        var catalogue = SmallCatalogue();
        try
        {
            // Without --expect: the tier it matches (tiny-cpu) has no GPU, so no driver is the right answer.
            var plain = GpuRunnerProcess.Run(env, "verify", "--only", NativeChecks, "--catalogue", catalogue);
            Assert.Equal(0, plain.Code);
            Assert.Matches(@"(?m)^SKIP  driver\.library  no NVIDIA driver: a CPU-only host, and it matches tiny-cpu, which has no GPU", plain.StdOut);
            Assert.Matches(@"(?m)^verdict PASS: ", plain.StdOut);
            Assert.DoesNotContain("tried ", plain.StdOut); // the search trace is detail here
            Assert.DoesNotContain("cause:", plain.StdOut);

            var verbose = GpuRunnerProcess.Run(env, "verify", "--only", NativeChecks, "--catalogue", catalogue, "--verbose");
            Assert.Equal(0, verbose.Code);
            Assert.Contains("tried /usr/local/nvidia/lib64/libnvidia-ml.so.1: no such file", verbose.StdOut);

            var cpu = GpuRunnerProcess.Run(env, "verify", "--only", NativeChecks, "--catalogue", catalogue, "--expect", "tiny-cpu", "--json");
            Assert.Equal(0, cpu.Code);
            using (var report = JsonDocument.Parse(cpu.StdOut))
            {
                Assert.Equal("PASS", report.RootElement.GetProperty("verdict").GetString());
                Assert.Equal("PASS", Check(report, "tier.match").GetProperty("status").GetString());
                Assert.Equal("SKIP", Check(report, "driver.library").GetProperty("status").GetString());
            }

            var gpu = GpuRunnerProcess.Run(env, "verify", "--only", NativeChecks, "--catalogue", catalogue, "--expect", "tiny-t4", "--json");
            Assert.Equal(1, gpu.Code);
            using (var report = JsonDocument.Parse(gpu.StdOut))
                AssertFailedWith(report, "driver.library", "no-nvidia-driver");

            // detect has nothing to expect: it says so in one line, and lists the places only when asked.
            var detect = GpuRunnerProcess.Run(env, "detect", "--catalogue", catalogue);
            Assert.Equal(0, detect.Code);
            Assert.Contains("driver  no NVIDIA driver: a CPU-only host", detect.StdOut);
            Assert.DoesNotContain("tried ", detect.StdOut);
            Assert.Contains("tried ", GpuRunnerProcess.Run(env, "detect", "--catalogue", catalogue, "--verbose").StdOut);
        }
        finally { File.Delete(catalogue); }
    }

    [Fact]
    public void PlainLinesAreGreppable()
    {
        var r = GpuRunnerProcess.Run(Fake(), "verify", "--only", NativeChecks);
        Assert.Equal(0, r.Code);
        Assert.Matches(@"(?m)^PASS  cuda\.init +CUDA 13\.0 driver, 1 device  \(\d+\.\d\d s\)$", r.StdOut);
        Assert.Matches(@"(?m)^verdict PASS: 7 passed, 0 warned, 0 failed, 1 skipped$", r.StdOut);
    }
}

public class ExpectTests
{
    private static readonly Dictionary<string, string?> FakeA10G = new()
    {
        ["GPURUNNER_NVML_PATH"] = FakeDrivers.Folder,
        ["GPURUNNER_CUDA_PATH"] = FakeDrivers.Folder,
    };

    [Fact]
    public void ExpectingAnotherGpuFailsNamingBoth()
    {
        var r = GpuRunnerProcess.Run(FakeA10G, "verify", "--expect", "t4-small", "--only", "tier.match");
        Assert.Equal(1, r.Code);
        Assert.Matches(@"(?m)^FAIL  tier\.match +expected 1x T4 16 GB, found 1x A10G 24 GB", r.StdOut);
        Assert.Contains("cause: tier-mismatch:", r.StdOut);
    }

    [Fact]
    public void UnknownFlavorIsUsageErrorWithASuggestion()
    {
        var r = GpuRunnerProcess.Run(FakeA10G, "verify", "--expect", "a10g-smal");
        Assert.Equal(2, r.Code);
        Assert.Contains("did you mean a10g-small?", r.StdErr);
        Assert.Empty(r.StdOut);
    }

    [Fact]
    public void DetectNamesTheTierOrWhyNot()
    {
        var r = GpuRunnerProcess.Run(FakeA10G, "detect", "--json");
        using var doc = JsonDocument.Parse(r.StdOut);
        var tier = doc.RootElement.GetProperty("tier");
        var gpu = tier.GetProperty("fields").EnumerateArray().Single(f => f.GetProperty("field").GetString() == "gpu");
        Assert.Equal("1x A10G 24 GB", gpu.GetProperty("found").GetString());
        Assert.False(string.IsNullOrEmpty(tier.GetProperty("summary").GetString()));
    }
}
