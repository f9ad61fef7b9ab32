using System.Net;
using System.Net.Sockets;
using GpuRunner.Cli.Exec;

namespace GpuRunner.Cli.Tests.Exec;

public sealed class ReadinessTests
{
    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    [Fact]
    public async Task TcpProbeWaitsUntilThePortOpens()
    {
        var port = FreePort();
        var probe = new TcpPortProbe(port, TimeSpan.FromMilliseconds(20));
        var wait = probe.WaitAsync(CancellationToken.None);
        await Task.Delay(300);
        Assert.False(wait.IsCompleted, "nothing listens yet");

        using var listener = new TcpListener(IPAddress.Loopback, port);
        listener.Start();
        await wait.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task TcpProbeIsCancelledWhenTheAppExits()
    {
        using var cts = new CancellationTokenSource(200);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => new TcpPortProbe(FreePort(), TimeSpan.FromMilliseconds(20)).WaitAsync(cts.Token));
    }

    [Fact]
    public async Task HttpProbeNeedsA2xxOr3xxAnswerOnThePath()
    {
        var port = FreePort();
        using var server = new HttpListener();
        server.Prefixes.Add($"http://127.0.0.1:{port}/");
        server.Start();
        var healthy = false;
        var requests = new List<string>();
        _ = Task.Run(async () =>
        {
            while (server.IsListening)
            {
                HttpListenerContext ctx;
                try { ctx = await server.GetContextAsync(); } catch { return; }
                lock (requests) requests.Add(ctx.Request.Url!.AbsolutePath);
                ctx.Response.StatusCode = ctx.Request.Url!.AbsolutePath == "/health" && Volatile.Read(ref healthy) ? 200 : 503;
                ctx.Response.Close();
            }
        });

        var wait = new HttpProbe(port, "/health", TimeSpan.FromMilliseconds(20)).WaitAsync(CancellationToken.None);
        await Task.Delay(400);
        Assert.False(wait.IsCompleted, "503 is not ready");
        Volatile.Write(ref healthy, true);
        await wait.WaitAsync(TimeSpan.FromSeconds(10));
        lock (requests) Assert.All(requests, p => Assert.Equal("/health", p));
    }

    [Fact]
    public async Task LogProbeMatchesALineOfEitherStream()
    {
        var probe = new LogLineProbe(LogLineProbe.Compile(@"Running on .*:\d+"));
        probe.Observe("Loading model...");
        Assert.False(probe.WaitAsync(CancellationToken.None).IsCompleted);
        var before = DateTimeOffset.UtcNow;
        probe.Observe("* Running on local URL:  http://0.0.0.0:7860");
        var after = DateTimeOffset.UtcNow;
        await Task.Delay(100);
        // The moment the line was seen (billing starts there), not the moment someone awaited it.
        Assert.InRange(await probe.WaitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(1)), before, after);
    }

    [Fact]
    public void AnInvalidPatternIsRejectedUpFront()
    {
        Assert.ThrowsAny<ArgumentException>(() => LogLineProbe.Compile("(unclosed"));
    }
}

public sealed class LinePumpTests
{
    // No test here depends on the machine being fast: the "held" case uses a flush delay no CI stall reaches, the
    // "not held forever" case polls for the flush instead of sleeping a fixed time.
    private static async Task Until(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition() && DateTime.UtcNow < deadline) await Task.Delay(10);
    }

    private static string Text(MemoryStream sink) { lock (sink) return System.Text.Encoding.UTF8.GetString(sink.ToArray()); }

    [Fact]
    public async Task WholeLinesAreFlushedAndObservedWhileAPartialLineWaitsForItsEnd()
    {
        var pipe = new System.IO.Pipelines.Pipe();
        var sink = new MemoryStream();
        var lines = new List<string>();
        var pump = new LinePump(pipe.Reader.AsStream(), sink, new object(), l => { lock (lines) lines.Add(l); }, TimeSpan.FromHours(1));
        var run = pump.RunAsync();

        await pipe.Writer.WriteAsync("one\ntw"u8.ToArray());
        await Until(() => Text(sink).Length >= 4);
        await Task.Delay(100);
        Assert.Equal("one\n", Text(sink)); // "tw" waits for its line

        await pipe.Writer.WriteAsync("o\r\nlast-no-newline"u8.ToArray());
        await pipe.Writer.CompleteAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("one\ntwo\r\nlast-no-newline", Text(sink));
        Assert.Equal(["one", "two", "last-no-newline"], lines);
    }

    [Fact]
    public async Task APartialLineIsNotHeldForever()
    {
        var pipe = new System.IO.Pipelines.Pipe();
        var sink = new MemoryStream();
        var lines = new List<string>();
        var pump = new LinePump(pipe.Reader.AsStream(), sink, new object(), l => { lock (lines) lines.Add(l); }, TimeSpan.FromMilliseconds(50));
        var run = pump.RunAsync();

        await pipe.Writer.WriteAsync("one\nPassword: "u8.ToArray()); // a prompt still shows
        await Until(() => Text(sink) == "one\nPassword: ");
        Assert.Equal("one\nPassword: ", Text(sink));

        await pipe.Writer.WriteAsync("x\n"u8.ToArray());
        await pipe.Writer.CompleteAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("one\nPassword: x\n", Text(sink));
        Assert.Equal(["one", "Password: ", "x"], lines);
    }

    [Fact]
    public void TheStderrTailKeepsTheLastLinesWithinItsBound()
    {
        var tail = new TailBuffer(maxChars: 20);
        Assert.Null(tail.Text());
        for (var i = 0; i < 100; i++) tail.Add($"line {i}");
        var text = tail.Text()!;
        Assert.True(text.Length <= 20, text);
        Assert.EndsWith("line 99", text);
        Assert.DoesNotContain("line 90", text);
    }
}

public sealed class CoreSettingsTests
{
    private static Func<string, string?> Env(params (string K, string V)[] vars) => k => vars.FirstOrDefault(v => v.K == k).V;

    [Fact]
    public void NoCoreUrlMeansLocalOnly() =>
        Assert.Null(CoreSettings.Resolve(null, null, null, Env(("SPACE_ID", "ns/app"), ("GPURUNNER_TOKEN", "t"))));

    [Fact]
    public void FlagsWinOverTheEnvironment()
    {
        var s = CoreSettings.Resolve("http://flag:1", null, "flag-token",
            Env(("GPURUNNER_CORE_URL", "http://env:2"), ("SPACE_ID", "ns/app"), ("GPURUNNER_TOKEN", "env-token")))!;
        Assert.Equal(("http://flag:1/", "ns/app", "flag-token"), (s.Url.ToString(), s.Space, s.Token));
    }

    [Theory]
    [InlineData("ftp://x", "ns/app", "t", "http(s) URL")]
    [InlineData("http://core", null, "t", "no space")]
    [InlineData("http://core", "ns/app", null, "no token")]
    [InlineData("http://core", "just-a-name", "t", "NAMESPACE/NAME")]
    public void AHalfConfiguredCoreIsAUsageError(string url, string? space, string? token, string message)
    {
        var e = Assert.Throws<GpuRunner.Cli.Infrastructure.CommandException>(() => CoreSettings.Resolve(url, space, token, Env()));
        Assert.Contains(message, e.Message);
        Assert.Equal(GpuRunner.Cli.Infrastructure.ReturnCode.UsageError, e.Code);
    }
}
