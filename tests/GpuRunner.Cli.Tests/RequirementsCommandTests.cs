using System.Text.Json;
using GpuRunner.Cli.Commands;
using GpuRunner.Diagnostics.Catalogue;

namespace GpuRunner.Cli.Tests;

public class RequirementsCommandTests
{
    private static string Sample(string name)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "GpuRunner.sln")))
                return Path.Combine(dir.FullName, "requirements", "samples", name);
        throw new InvalidOperationException("repository root not found");
    }

    [Fact]
    public async Task GoodFileExitsZero()
    {
        var (code, console) = await TestConsole.RunAsync("requirements", "check", Sample("good-cuda12.txt"), "--driver-cuda", "12.2");
        Assert.Equal(0, code);
        Assert.Contains("verdict: PASS: all 5 CUDA-related requirements can use the GPU", console.StdOut);
        Assert.Equal("", console.StdErr);
    }

    [Fact]
    public async Task IncompatibleFileExitsOneAndPrintsTheReplacement()
    {
        var (code, console) = await TestConsole.RunAsync("requirements", "check", Sample("pytorch-cu113.txt"), "--driver-cuda", "11.4");
        Assert.Equal(1, code);
        Assert.Contains("FAIL torch", console.StdOut);
        Assert.Contains("instead: --extra-index-url https://download.pytorch.org/whl/cu113", console.StdOut);
        Assert.Contains("torch==1.12.1+cu113", console.StdOut);
    }

    [Fact]
    public async Task JsonOutputParsesAndCarriesTheVerdict()
    {
        var (code, console) = await TestConsole.RunAsync("requirements", "check", Sample("cpu-only.txt"), "--driver-cuda", "12.2", "--json");
        Assert.Equal(1, code);
        using var doc = JsonDocument.Parse(console.StdOut);
        Assert.Equal("FAIL", doc.RootElement.GetProperty("verdict").GetString());
        Assert.Equal("12.2", doc.RootElement.GetProperty("driverCuda").GetString());
        Assert.Equal(4, doc.RootElement.GetProperty("items").GetArrayLength());
    }

    [Theory]
    [InlineData("malformed.txt", "12.2", "malformed.txt:2: cannot parse 'numpy>=>1.0' as a requirement")]
    [InlineData("no-such-file.txt", "12.2", "no-such-file.txt: cannot read: no such file")]
    [InlineData("good-cuda12.txt", "twelve", "--driver-cuda 'twelve' is not a CUDA version like 12.2")]
    public async Task BadInputExitsTwoWithOneLine(string file, string driver, string expected)
    {
        var (code, console) = await TestConsole.RunAsync("requirements", "check", Sample(file), "--driver-cuda", driver);
        Assert.Equal(2, code);
        Assert.Contains(expected, console.StdErr);
        Assert.Single(console.StdErr.Trim().Split('\n'));
        Assert.DoesNotContain("   at ", console.StdErr);
    }

    [Fact]
    public async Task WithoutADriverItAsksForDriverCuda()
    {
        var console = new TestConsole();
        var command = RequirementsCommand.Create(console, probe: () => null);
        var code = await command.Parse(["check", Sample("good-cuda12.txt")]).InvokeAsync();
        Assert.Equal(2, code);
        Assert.Contains("no NVIDIA driver detected", console.StdErr);
        Assert.Contains("pass --driver-cuda", console.StdErr);
    }

    [Fact]
    public async Task TheDetectedDriverIsUsedWhenNoOptionIsGiven()
    {
        var console = new TestConsole();
        var command = RequirementsCommand.Create(console, probe: () => (new CudaVersion(11, 4), "driver 470.82.01 (test)"));
        var code = await command.Parse(["check", Sample("too-new.txt")]).InvokeAsync();
        Assert.Equal(1, code);
        Assert.Contains("against a CUDA 11.4 driver (driver 470.82.01 (test))", console.StdOut);
    }

    [Fact]
    public async Task MissingFileArgumentIsUsageError()
    {
        var (code, console) = await TestConsole.RunAsync("requirements", "check");
        Assert.Equal(2, code);
        Assert.Contains("gpurunner: usage:", console.StdErr);
    }
}

public class CatalogueOptionTests
{
    [Fact]
    public async Task DetectUsesAUserCatalogue()
    {
        var path = Path.Combine(Path.GetTempPath(), $"gpurunner-cat-{Guid.NewGuid():N}.json");
        // A tier every machine meets: proves the file, not the built-in catalogue, decided the match.
        File.WriteAllText(path, """{"flavors": [{"id": "any-box", "vcpu": 1, "ramGB": 1, "diskGB": 1, "priceMicroUsdPerHour": 0}]}""");
        try
        {
            var (code, console) = await TestConsole.RunAsync("detect", "--catalogue", path, "--json");
            using var doc = JsonDocument.Parse(console.StdOut);
            Assert.Equal("any-box", doc.RootElement.GetProperty("tier").GetProperty("flavor").GetString());
            Assert.Equal(0, code);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public async Task ABadCatalogueIsExitTwoWithOneLine()
    {
        var (code, console) = await TestConsole.RunAsync("verify", "--catalogue", "/no/such/catalogue.json");
        Assert.Equal(2, code);
        Assert.Equal("gpurunner: error: catalogue /no/such/catalogue.json: cannot read: no such file", console.StdErr.Trim());
    }

    [Fact]
    public async Task ExpectOnThisCpuHostNamesTheGpuDifference()
    {
        var (code, console) = await TestConsole.RunAsync("verify", "--expect", "a10g-small", "--only", "tier.match", "--json");
        Assert.Equal(1, code);
        using var doc = JsonDocument.Parse(console.StdOut);
        var tier = doc.RootElement.GetProperty("tier");
        Assert.Equal(JsonValueKind.Null, tier.GetProperty("flavor").ValueKind);
        var gpu = tier.GetProperty("fields").EnumerateArray().Single(f => f.GetProperty("field").GetString() == "gpu");
        Assert.Equal("1x A10G 24 GB", gpu.GetProperty("expected").GetString());
        Assert.False(gpu.GetProperty("ok").GetBoolean());
    }
}

/// <summary>Through the real loader against the stand-in NVML (tests/fakes: an A10G, driver 580.159.04, CUDA 13.0).</summary>
public class HostPartWithFakeDriverTests
{
    private static Dictionary<string, string?> Fake() => new()
    {
        ["GPURUNNER_NVML_PATH"] = GpuRunner.Tests.Fakes.FakeDrivers.Folder,
        ["GPURUNNER_CUDA_PATH"] = GpuRunner.Tests.Fakes.FakeDrivers.Folder,
    };

    private static string Sample(string name)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "GpuRunner.sln")))
                return Path.Combine(dir.FullName, "requirements", "samples", name);
        throw new InvalidOperationException("repository root not found");
    }

    [Fact]
    public void RequirementsCheckAsksTheDriverWhenNoVersionIsGiven()
    {
        var r = GpuRunnerProcess.Run(Fake(), "requirements", "check", Sample("too-new.txt"));
        Assert.True(r.Code == 0, r.StdOut + r.StdErr);
        Assert.Contains("against a CUDA 13.0 driver (driver 580.159.04, NVML)", r.StdOut);
    }

    [Fact]
    public void DetectMatchesTheFakeA10GAgainstTheCatalogue()
    {
        var r = GpuRunnerProcess.Run(Fake(), "detect", "--json");
        Assert.True(r.Code == 0, r.StdErr);
        using var doc = JsonDocument.Parse(r.StdOut);
        var tier = doc.RootElement.GetProperty("tier");
        var gpu = tier.GetProperty("fields").EnumerateArray().Single(f => f.GetProperty("field").GetString() == "gpu");
        Assert.Equal("1x A10G 24 GB", gpu.GetProperty("found").GetString());
        Assert.Contains("a10g", tier.GetProperty("summary").GetString());
    }
}

public class RequirementsRichTests
{
    [Fact]
    public async Task TerminalOutputIsATableWithTheSameVerdict()
    {
        string sample = "";
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "GpuRunner.sln"))) { sample = Path.Combine(dir.FullName, "requirements", "samples", "cpu-only.txt"); break; }
        var console = new TestConsole(interactive: true);
        var code = await CliApp.RunAsync(["requirements", "check", sample, "--driver-cuda", "12.2"], console);
        Assert.Equal(1, code);
        Assert.Contains("╭", console.StdOut); // a Spectre table
        Assert.Contains("torch==2.3.1+cu121", console.StdOut);
        Assert.Contains("verdict: FAIL: 4 of 4 CUDA-related requirements cannot use the GPU", console.StdOut);
    }
}
