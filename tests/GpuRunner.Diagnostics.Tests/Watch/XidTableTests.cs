using GpuRunner.Diagnostics.Catalogue;
using GpuRunner.Diagnostics.Watch;

namespace GpuRunner.Diagnostics.Tests.Watch;

/// <summary>requirements/xid.json: the classes the GPU watch gives each Xid, and the file's own checks.</summary>
public class XidTableTests
{
    [Theory]
    [InlineData(13, GpuFaultClass.User, false)]
    [InlineData(31, GpuFaultClass.User, false)]
    [InlineData(43, GpuFaultClass.User, false)]
    [InlineData(48, GpuFaultClass.Hardware, true)]
    [InlineData(63, GpuFaultClass.Hardware, false)]
    [InlineData(64, GpuFaultClass.Hardware, true)]
    [InlineData(74, GpuFaultClass.Hardware, true)]
    [InlineData(79, GpuFaultClass.Hardware, true)]
    [InlineData(92, GpuFaultClass.Hardware, false)]
    [InlineData(94, GpuFaultClass.Hardware, true)]
    [InlineData(95, GpuFaultClass.Hardware, true)]
    [InlineData(119, GpuFaultClass.Driver, true)]
    [InlineData(45, GpuFaultClass.Info, false)]
    [InlineData(777, GpuFaultClass.Driver, false)] // not listed: the table's "unknownXid"
    public void ClassifiesTheXidsAsTheDocsSay(int code, GpuFaultClass cls, bool fatal)
    {
        var x = XidTable.BuiltIn.Classify(code);
        Assert.Equal((code, cls, fatal), (x.Code, x.Class, x.Fatal));
        Assert.False(string.IsNullOrWhiteSpace(x.Cause));
    }

    [Fact]
    public void TheLogLineSaysCauseTimeClassAndWhatToDo()
    {
        var t = XidTable.BuiltIn;
        var x = t.Classify(79);
        var e = new GpuWatchEvent(new DateTimeOffset(2026, 12, 6, 12, 3, 7, TimeSpan.Zero), 0, "xid", 79, x.Class, x.Fatal, x.Cause,
            t.Verdict(x.Class), t.Advice(x.Class));
        Assert.Equal("the GPU fell off the bus (Xid 79) at 12:03:07: hardware fault, not your code", e.Summary);
        Assert.StartsWith("GPU 0: the GPU fell off the bus (Xid 79) at 12:03:07: hardware fault, not your code. the GPU needs a reset", e.LogLine);
        Assert.True(e.PlatformFault);
    }

    [Theory]
    [InlineData("{\"classes\":{}}", "class 'info' is missing")]
    [InlineData("{\"classes\":{\"user\":{},\"hardware\":{},\"driver\":{},\"info\":{}},\"xids\":[{\"code\":79,\"class\":\"bad\",\"cause\":\"x\"}]}", "unknown class 'bad'")]
    [InlineData("{\"classes\":{\"user\":{},\"hardware\":{},\"driver\":{},\"info\":{}},\"xids\":[{\"code\":79,\"class\":\"user\",\"cause\":\"x\"},{\"code\":79,\"class\":\"user\",\"cause\":\"y\"}]}", "listed twice")]
    [InlineData("{\"classes\":{\"user\":{},\"hardware\":{},\"driver\":{},\"info\":{}},\"xids\":[{\"code\":0,\"class\":\"user\",\"cause\":\"x\"}]}", "out of range")]
    [InlineData("not json", "xid.json")]
    public void ABadTableIsOneClearError(string json, string says)
    {
        var e = Assert.Throws<CatalogueException>(() => XidTable.Parse(json));
        Assert.Contains(says, e.Message);
    }
}
