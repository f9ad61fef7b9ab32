using System.Text.Json;

namespace GpuRunner.Cli.Tests;

public class VerifyFrameworkTests
{
    [Theory]
    [InlineData("torch", "torch.load,torch.cuda")]
    [InlineData("onnx", "onnx.runtime,onnx.cpu,onnx.cuda")]
    [InlineData("python", "python.torch,python.jax,python.tensorflow")]
    [InlineData("model", "model.device")]
    public async Task OnlyGroupSelectsItsChecks(string group, string ids)
    {
        var (code, console) = await TestConsole.RunAsync("verify", "--only", group, "--json");
        Assert.True(code is 0 or 1, console.StdErr);
        using var doc = JsonDocument.Parse(console.StdOut);
        var shown = doc.RootElement.GetProperty("checks").EnumerateArray().Select(c => c.GetProperty("id").GetString()).ToList();
        Assert.Equal(ids.Split(','), shown);
    }

    [Fact]
    public async Task OnnxCpuPassesHere()
    {
        var (_, console) = await TestConsole.RunAsync("verify", "--only", "onnx.cpu", "--json");
        using var doc = JsonDocument.Parse(console.StdOut);
        var check = doc.RootElement.GetProperty("checks").EnumerateArray().Single();
        Assert.Equal("PASS", check.GetProperty("status").GetString());
        Assert.Contains("within", check.GetProperty("evidence").GetString());
    }

    [Fact]
    public async Task MissingPythonIsAUsageError()
    {
        var (code, console) = await TestConsole.RunAsync("verify", "--only", "python", "--python", "/no/such/python3");
        Assert.Equal(2, code);
        Assert.Contains("--python /no/such/python3", console.StdErr);
    }
}
