using System.Text.Json;

namespace GpuRunner.Cli.Tests;

public sealed class RunCommandTests : IDisposable
{
    private static readonly string Models = FindModels();
    private readonly string _tmp = Directory.CreateTempSubdirectory("gpurunner-run-").FullName;
    public void Dispose() => Directory.Delete(_tmp, true);

    private static string FindModels()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "models", "mlp.json"))) return Path.Combine(d.FullName, "models");
        throw new InvalidOperationException("models/ not found above the test folder");
    }

    [Theory]
    [InlineData("mlp")]
    [InlineData("cnn")]
    public async Task OrtOnCpuMatchesTheReferenceAndExitsZero(string name)
    {
        var (code, console) = await TestConsole.RunAsync("run", "--model", Path.Combine(Models, name + ".onnx"),
            "--engine", "ort", "--device", "cpu", "--iterations", "5", "--warmup", "1", "--batch", "3");
        Assert.True(code == 0, console.StdOut + console.StdErr);
        Assert.Contains("verdict:       PASS", console.StdOut);
        Assert.Contains("p50", console.StdOut);
        Assert.Contains("samples/s", console.StdOut);
    }

    [Fact]
    public async Task JsonReportHasLatencyThroughputAndComparison()
    {
        var (code, console) = await TestConsole.RunAsync("run", "--model", Path.Combine(Models, "mlp.json"),
            "--device", "cpu", "--iterations", "7", "--warmup", "0", "--json");
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(console.StdOut);
        var r = doc.RootElement;
        Assert.Equal("gpurunner.run/1", r.GetProperty("schema").GetString());
        Assert.Equal(7, r.GetProperty("iterations").GetInt32());
        Assert.True(r.GetProperty("latency").GetProperty("p99Ms").GetDouble() >= r.GetProperty("latency").GetProperty("p50Ms").GetDouble());
        Assert.True(r.GetProperty("throughputSamplesPerSecond").GetDouble() > 0);
        Assert.True(r.GetProperty("comparison").GetProperty("within").GetBoolean());
        Assert.Equal(8 * 10, r.GetProperty("comparison").GetProperty("elements").GetInt32());
    }

    [Fact]
    public async Task OutputBeyondToleranceFailsWithExitOne()
    {
        // A copy of the mlp whose expected output is shifted by 0.01 in one element: the run must say FAIL.
        foreach (var f in Directory.GetFiles(Models, "mlp.*")) File.Copy(f, Path.Combine(_tmp, Path.GetFileName(f)));
        var npy = Path.Combine(_tmp, "mlp.expected.npy");
        var bytes = File.ReadAllBytes(npy);
        var at = bytes.Length - 4;
        BitConverter.GetBytes(BitConverter.ToSingle(bytes, at) + 0.01f).CopyTo(bytes, at);
        File.WriteAllBytes(npy, bytes);
        var (code, console) = await TestConsole.RunAsync("run", "--model", Path.Combine(_tmp, "mlp.onnx"), "--device", "cpu",
            "--iterations", "2", "--warmup", "0");
        Assert.Equal(1, code);
        Assert.Contains("verdict:       FAIL", console.StdOut);
        Assert.Contains("1/80 elements beyond", console.StdOut);
    }

    [Theory]
    [InlineData("--batch", "0")]
    [InlineData("--iterations", "0")]
    [InlineData("--engine", "tensorrt")]
    [InlineData("--device", "tpu")]
    public async Task BadOptionsAreUsageErrors(string option, string value)
    {
        var (code, console) = await TestConsole.RunAsync("run", "--model", Path.Combine(Models, "mlp.onnx"), option, value);
        Assert.Equal(2, code);
        Assert.Single(console.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("gpurunner:"));
    }

    [Fact]
    public async Task MissingModelAndNativeOnCpuAreUsageErrors()
    {
        var (code, console) = await TestConsole.RunAsync("run", "--model", Path.Combine(_tmp, "nope.onnx"));
        Assert.Equal(2, code);
        Assert.Contains("model not found", console.StdErr);
        (code, console) = await TestConsole.RunAsync("run", "--model", Path.Combine(Models, "mlp.onnx"), "--engine", "native", "--device", "cpu");
        Assert.Equal(2, code);
        Assert.Contains("--device cuda", console.StdErr);
    }

    [Fact]
    public async Task OrtCudaWithTheCpuPackageFailsWithTheNamedCause()
    {
        // The default build carries the CPU package: asking it for CUDA is a check failure (1) with the named cause.
        var (code, console) = await TestConsole.RunAsync("run", "--model", Path.Combine(Models, "mlp.onnx"), "--engine", "ort", "--device", "cuda");
        Assert.Equal(1, code);
        Assert.Contains("ort-cpu-package", console.StdErr);
        Assert.Contains("fix:", console.StdErr);
    }
}
