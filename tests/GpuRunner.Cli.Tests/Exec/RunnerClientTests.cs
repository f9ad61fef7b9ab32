using System.Net;
using System.Text;
using GpuRunner.Client;

namespace GpuRunner.Cli.Tests.Exec;

internal sealed class StubHandler(Func<HttpRequestMessage, Task<HttpResponseMessage>> answer) : HttpMessageHandler
{
    public readonly List<(HttpRequestMessage Request, string Body)> Seen = new();

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
    {
        Seen.Add((request, request.Content is null ? "" : await request.Content.ReadAsStringAsync(ct)));
        return await answer(request).WaitAsync(ct);
    }
}

public sealed class RunnerClientTests
{
    private static HttpResponseMessage Json(HttpStatusCode status, string body) =>
        new(status) { Content = new StringContent(body, Encoding.UTF8, "application/json") };

    [Fact]
    public async Task PostsTheBodyWithTheBearerTokenToTheSpacesRoute()
    {
        var handler = new StubHandler(_ => Task.FromResult(Json(HttpStatusCode.OK, """{"duplicate":true,"runId":"r1"}""")));
        using var client = new RunnerClient(new Uri("http://core.test/base/"), "my-org/my-app", "secret", new HttpClient(handler));

        var ack = await client.SendStageAsync(new StageEvent("e1", DateTimeOffset.Parse("2026-11-28T12:00:00Z"), "r1", RunnerStages.Running));

        Assert.Equal(new RunnerAck(true, "r1"), ack);
        var (request, body) = Assert.Single(handler.Seen);
        Assert.Equal("http://core.test/base/api/runner/spaces/my-org/my-app/stage", request.RequestUri!.ToString());
        Assert.Equal("Bearer secret", request.Headers.Authorization!.ToString());
        Assert.Equal("""{"eventId":"e1","at":"2026-11-28T12:00:00+00:00","runId":"r1","stage":"RUNNING"}""", body);
    }

    [Fact]
    public async Task ABatchWrapsTheStoredBodiesVerbatimAndReadsOneResultPerEntry()
    {
        var handler = new StubHandler(_ => Task.FromResult(Json(HttpStatusCode.OK,
            """{"results":[{"status":200,"duplicate":true,"runId":"r1"},{"status":409,"error":"stale","code":"stale_event"},{"status":202,"duplicate":false,"held":"why"}]}""")));
        using var client = new RunnerClient(new Uri("http://core.test"), "ns/app", "t", new HttpClient(handler));
        var results = await client.SendBatchAsync([(RunnerRoute.Heartbeat, """{"eventId":"a"}"""), (RunnerRoute.Stage, """{"eventId":"b"}"""), (RunnerRoute.Exit, "{}")]);
        var (request, body) = Assert.Single(handler.Seen);
        Assert.Equal("http://core.test/api/runner/spaces/ns/app/batch", request.RequestUri!.ToString());
        Assert.Equal("""{"events":[{"route":"heartbeat","body":{"eventId":"a"}},{"route":"stage","body":{"eventId":"b"}},{"route":"exit","body":{}}]}""", body);
        Assert.Equal([200, 409, 202], results.Select(r => r.Status));
        Assert.Equal(new RunnerAck(true, "r1"), results[0].Ack);
        Assert.Equal("POST stage: core answered 409: stale", results[1].Error);
        Assert.Equal("why", results[2].Ack!.Held);
        Assert.True(results[2].Delivered);

        var wrongLength = new StubHandler(_ => Task.FromResult(Json(HttpStatusCode.OK, """{"results":[]}""")));
        using var c2 = new RunnerClient(new Uri("http://core.test"), "ns/app", "t", new HttpClient(wrongLength));
        var e = await Assert.ThrowsAsync<RunnerApiException>(() => c2.SendBatchAsync([(RunnerRoute.Heartbeat, "{}")]));
        Assert.True(e.IsTransient); // nothing is known: resend
    }

    [Fact]
    public async Task AHeldEventIsAnAcknowledgementThatSaysWhy()
    {
        var handler = new StubHandler(_ => Task.FromResult(Json(HttpStatusCode.Accepted,
            """{"duplicate":false,"runId":"r1","stage":"BUILDING","held":"illegal transition for ns/app: BUILDING -> RUNNING"}""")));
        using var client = new RunnerClient(new Uri("http://core.test"), "ns/app", "t", new HttpClient(handler));
        var ack = await client.SendAsync(RunnerRoute.Stage, "{}");
        Assert.Equal(new RunnerAck(false, "r1", "illegal transition for ns/app: BUILDING -> RUNNING"), ack);
    }

    [Theory]
    [InlineData(409, """{"type":"x","title":"Conflict","status":409,"detail":"d","error":"illegal transition for ns/app"}""", "illegal transition for ns/app")]
    [InlineData(400, """{"title":"Bad Request","detail":"'at' is required"}""", "'at' is required")]
    [InlineData(502, "<html><body>Bad gateway</body></html>", "<html><body>Bad gateway</body></html>")]
    [InlineData(401, "", "Unauthorized")]
    public async Task ErrorsCarryTheStatusAndTheCoresMessage(int status, string body, string message)
    {
        var handler = new StubHandler(_ => Task.FromResult(Json((HttpStatusCode)status, body)));
        using var client = new RunnerClient(new Uri("http://core.test"), "ns/app", "t", new HttpClient(handler));

        var e = await Assert.ThrowsAsync<RunnerApiException>(() => client.SendAsync(RunnerRoute.Exit, "{}"));
        Assert.Equal(status, e.StatusCode);
        Assert.Contains(message, e.Message);
        Assert.Contains($"core answered {status}", e.Message);
        Assert.Equal(status is 400 or 409, e.IsPermanentRejection);
        Assert.Equal(status >= 500, e.IsTransient);
    }

    [Fact]
    public async Task ACoreThatNeverAnswersTimesOutAsATransientFailure()
    {
        var handler = new StubHandler(_ => new TaskCompletionSource<HttpResponseMessage>().Task); // hangs
        using var client = new RunnerClient(new Uri("http://core.test"), "ns/app", "t", new HttpClient(handler), TimeSpan.FromMilliseconds(200));

        var e = await Assert.ThrowsAsync<RunnerApiException>(() => client.SendAsync(RunnerRoute.Heartbeat, "{}"));
        Assert.Null(e.StatusCode);
        Assert.True(e.IsTransient);
        Assert.Contains("no answer", e.Message);
    }

    [Fact]
    public async Task AnUnreachableCoreIsATransientFailureWithTheReason()
    {
        using var client = new RunnerClient(new Uri("http://127.0.0.1:1"), "ns/app", "t");
        var e = await Assert.ThrowsAsync<RunnerApiException>(() => client.SendAsync(RunnerRoute.Heartbeat, "{}"));
        Assert.Null(e.StatusCode);
        Assert.Contains("cannot reach http://127.0.0.1:1", e.Message);
    }

    [Theory]
    [InlineData("noslash")]
    [InlineData("a/b/c")]
    [InlineData("/b")]
    [InlineData("a b/c")]
    public void ABadSpaceIdIsRefused(string space) =>
        Assert.Throws<ArgumentException>(() => new RunnerClient(new Uri("http://core"), space, "t"));
}
