using GpuRunner.Diagnostics.Catalogue;
using GpuRunner.Diagnostics.Checks;
using GpuRunner.Diagnostics.Host;
using GpuRunner.Diagnostics.Inventory;
using GpuRunner.Diagnostics.Report;

namespace GpuRunner.Diagnostics.Tests.Checks;

public class TierCheckTests
{
    private sealed class FixedMatcher(TierMatch? report) : ITierMatcher
    {
        public string? AskedFor;
        public TierMatch? Match(HostFacts? host, IReadOnlyList<GpuReport>? gpus, string? expect) { AskedFor = expect; return report; }
        public IReadOnlyList<string> Flavors => ["t4-small", "a10g-small"];
        public string? Validate(string flavor) => Flavors.Contains(flavor) ? null : "unknown";
        public bool? HasGpu(string flavor) => Flavors.Contains(flavor) ? true : null;
    }

    private static CheckContext Context(ITierMatcher matcher, string? expect) =>
        new(new DeviceReport(), expect, services: new DiagnosticsServices(HostProbe.Collect, matcher));

    [Fact]
    public void MismatchNamesEveryDifferingField()
    {
        var matcher = new FixedMatcher(new TierMatch
        {
            Flavor = "t4-small", Summary = "does not match a10g-small",
            Fields = [new("gpu", "1x A10G 24 GB", "1x T4 16 GB", false), new("vcpu", "4 vCPU", "4 vCPU", true), new("ram", "30 GB", "15 GB", false)],
        });
        var ctx = Context(matcher, "a10g-small");
        var outcome = new TierCheck().Run(ctx);
        Assert.Equal("a10g-small", matcher.AskedFor);
        Assert.Equal(CheckStatus.Fail, outcome.Status);
        Assert.Equal("expected 1x A10G 24 GB, found 1x T4 16 GB; ram: expected 30 GB, found 15 GB", outcome.Evidence);
        Assert.Equal("tier-mismatch", outcome.Diagnosis!.Name);
        Assert.Equal("t4-small", ctx.Report.Tier!.Flavor); // the match is kept in the report
    }

    [Fact]
    public void WithoutExpectItOnlyReports()
    {
        var outcome = new TierCheck().Run(Context(new FixedMatcher(new TierMatch { Summary = "matches t4-small", Fields = [] }), null));
        Assert.Equal(CheckStatus.Skip, outcome.Status);
        Assert.Equal("no --expect given; matches t4-small", outcome.Evidence);
    }

    [Fact]
    public void ExpectWithoutACatalogueFails()
    {
        var outcome = new TierCheck().Run(Context(new NoCatalogue(), "a10g-small"));
        Assert.Equal(CheckStatus.Fail, outcome.Status);
        Assert.Equal("no-catalogue", outcome.Diagnosis!.Name);
    }
}
