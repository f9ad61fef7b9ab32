using GpuRunner.Diagnostics.Requirements;

namespace GpuRunner.Diagnostics.Tests.Requirements;

public class RequirementsParserTests
{
    private static ParsedRequirements Parse(string text) => RequirementsParser.ParseText(text, "/tmp/gpurunner-req-test/requirements.txt");

    [Fact]
    public void OptionsExtrasLocalVersionsMarkersAndComments()
    {
        var p = Parse("""
            # a comment line
            --index-url https://pypi.org/simple
            --extra-index-url=https://download.pytorch.org/whl/cu121   # trailing comment
            -f https://storage.googleapis.com/jax-releases/jax_cuda_releases.html
            torch==2.3.1+cu121
            jax[cuda12, Tpu] >= 0.4.26, < 0.5
            Scikit_Learn.Extra ; sys_platform == 'linux'
            url-with-hash @ https://example.org/pkg-1.0-py3-none-any.whl#sha256=abc
            """);
        Assert.Equal("https://pypi.org/simple", p.Options.IndexUrl);
        Assert.Equal(["https://download.pytorch.org/whl/cu121"], p.Options.ExtraIndexUrls);
        Assert.Equal(["https://storage.googleapis.com/jax-releases/jax_cuda_releases.html"], p.Options.FindLinks);
        Assert.Equal(4, p.Requirements.Count);

        var torch = p.Requirements[0];
        Assert.Equal(("torch", "2.3.1", "cu121", 5), (torch.Name, torch.PinnedVersion, torch.Local, torch.Line));
        var jax = p.Requirements[1];
        Assert.Equal(["cuda12", "tpu"], jax.Extras);
        Assert.Null(jax.PinnedVersion);
        Assert.Equal(">= 0.4.26, < 0.5", jax.Specifier);
        var sk = p.Requirements[2];
        Assert.Equal("scikit-learn-extra", sk.Name);
        Assert.Equal("sys_platform == 'linux'", sk.Marker);
        Assert.True(sk.MarkerApplies);
        var url = p.Requirements[3];
        Assert.Equal("url-with-hash", url.Name);
        Assert.Equal("1.0", url.PinnedVersion);
    }

    [Fact]
    public void ContinuationsJoinAndHashesAreDropped()
    {
        var p = Parse("torch==2.1.2+cu118 \\\n    --hash=sha256:00 \\\n    --hash=sha256:11\nnumpy\n");
        Assert.Equal(2, p.Requirements.Count);
        Assert.Equal("torch==2.1.2+cu118", p.Requirements[0].Text);
        Assert.Equal(1, p.Requirements[0].Line);
        Assert.Equal(4, p.Requirements[1].Line);
    }

    [Fact]
    public void DirectWheelUrlGivesNameVersionAndLocalTag()
    {
        var p = Parse("https://download.pytorch.org/whl/cu118/torchaudio-2.1.2%2Bcu118-cp311-cp311-linux_x86_64.whl\n");
        var e = Assert.Single(p.Requirements);
        Assert.Equal(("torchaudio", "2.1.2", "cu118"), (e.Name, e.PinnedVersion, e.Local));
    }

    [Fact]
    public void IncludesAreRelativeToTheIncludingFile()
    {
        var p = RequirementsParser.ParseFile(Samples.Path("layered.txt"));
        Assert.Contains(p.Requirements, r => r.Name == "numpy" && r.File.EndsWith("base.txt"));
        Assert.Contains(p.Requirements, r => r.Name == "torch");
        Assert.False(p.Requirements.Single(r => r.Name == "pywin32").MarkerApplies);
        Assert.True(p.Requirements.Single(r => r.Name == "nvidia-cuda-runtime-cu11").MarkerApplies != false);
    }

    [Theory]
    [InlineData("numpy>=>1.0", "requirements.txt:1: cannot parse 'numpy>=>1.0' as a requirement")]
    [InlineData("torch==", "cannot parse 'torch=='")]
    [InlineData("torch=2.0", "cannot parse 'torch=2.0'")]
    [InlineData("jax[cuda 12]", "cannot parse")]
    [InlineData("--frobnicate", "requirements.txt:1: unknown pip option '--frobnicate'")]
    [InlineData("--index-url", "requirements.txt:1: --index-url needs a value")]
    [InlineData("-r missing-include.txt", "requirements.txt:1: cannot read included file")]
    public void MalformedInputIsOneLineNamingFileAndLine(string text, string expected)
    {
        var e = Assert.Throws<RequirementsException>(() => Parse(text));
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void IncludeCycleIsAnError()
    {
        var dir = Directory.CreateTempSubdirectory("gpurunner-req-");
        try
        {
            File.WriteAllText(Path.Combine(dir.FullName, "a.txt"), "-r b.txt\n");
            File.WriteAllText(Path.Combine(dir.FullName, "b.txt"), "numpy\n-r a.txt\n");
            var e = Assert.Throws<RequirementsException>(() => RequirementsParser.ParseFile(Path.Combine(dir.FullName, "a.txt")));
            Assert.Contains("include cycle", e.Message);
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    public void BinaryFileIsRejected()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(path, [0x7f, 0x45, 0x4c, 0x46, 0, 0, 1]);
            Assert.Contains("not a text file", Assert.Throws<RequirementsException>(() => RequirementsParser.ParseFile(path)).Message);
        }
        finally { File.Delete(path); }
    }

    [Theory]
    [InlineData("sys_platform == \"win32\"", false)]
    [InlineData("sys_platform == 'linux' and platform_machine == 'x86_64'", true)]
    [InlineData("platform_system != \"Darwin\"", true)]
    [InlineData("sys_platform == 'darwin' or sys_platform == 'linux'", true)]
    [InlineData("python_version >= \"3.8\"", null)]
    [InlineData("python_version >= \"3.8\" and sys_platform == 'win32'", false)]
    [InlineData("(sys_platform == 'win32' or os_name == 'nt') and python_version < '3.12'", false)]
    [InlineData("'linux' in sys_platform", true)]
    public void PlatformMarkersAreEvaluatedForLinux(string marker, bool? expected) => Assert.Equal(expected, Markers.Evaluate(marker));
}
