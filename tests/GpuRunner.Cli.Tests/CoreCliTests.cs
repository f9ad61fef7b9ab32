using Microsoft.Extensions.Logging;

namespace GpuRunner.Cli.Tests;

/// <summary>`core serve` and `spaces` refuse bad input with one line and exit 2 before doing anything.</summary>
public class CoreCliTests
{
    [Theory]
    [InlineData("core", "serve", "--db", "mysql:x")]
    [InlineData("core", "serve", "--urls", "ftp://x")]
    [InlineData("core", "serve", "--user", "alice")]
    [InlineData("core", "serve", "--tick", "0")]
    [InlineData("core", "serve", "--sqlite-sync", "sometimes")]
    [InlineData("core", "serve", "--catalogue", "/nonexistent/tiers.json")]
    [InlineData("spaces", "runtime", "alice/app", "--core", "not a url")]
    [InlineData("spaces", "runtime", "alice", "--core", "http://127.0.0.1:9")]
    [InlineData("core", "bench", "--runners", "x")]
    [InlineData("core", "bench", "--instances", "two")]
    [InlineData("core", "bench", "--instances", "0")]
    public async Task BadInputIsExit2WithOneLine(params string[] args)
    {
        var (code, console) = await TestConsole.RunAsync(args);
        Assert.Equal(2, code);
        Assert.Matches("^gpurunner: (usage|error): ", console.StdErr);
        Assert.DoesNotContain("   at ", console.StdErr);
    }

    [Fact]
    public void APortInUseIsOneCleanLine()
    {
        using var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        var url = $"http://127.0.0.1:{((System.Net.IPEndPoint)taken.LocalEndpoint).Port}";
        var db = Path.Combine(Path.GetTempPath(), $"gpurunner-port-{Guid.NewGuid():N}.db");
        var r = GpuRunnerProcess.Run(new Dictionary<string, string?>(), "core", "serve", "--urls", url, "--db", "sqlite:" + db, "--user", "alice=alice-token-123456");
        foreach (var f in Directory.GetFiles(Path.GetTempPath(), Path.GetFileName(db) + "*")) File.Delete(f);
        Assert.Equal(2, r.Code);
        Assert.Equal($"gpurunner: error: cannot listen on {url}: the address is already in use (another core or program listens there); choose another with --urls",
            r.StdErr.Trim());
        Assert.DoesNotContain("Exception", r.StdOut + r.StdErr); // no host log with a stack before it
    }

    [Fact]
    public async Task ServingWithoutAUserWarns()
    {
        var dir = Directory.CreateTempSubdirectory("gpurunner-nouser-").FullName;
        using (var core = new Exec.RunnerProcess(["core", "serve", "--urls", "http://127.0.0.1:0", "--db", $"sqlite:{dir}/core.db"]))
        {
            await core.WaitForOutputAsync("listening on");
            await core.WaitForOutputAsync("gpurunner core: warning: no --user or --admin given");
            Assert.True(GpuRunner.Cli.Exec.Posix.Kill(core.Pid, GpuRunner.Cli.Exec.Posix.SIGTERM));
            Assert.Equal(0, await core.WaitForExitAsync());
        }
        Directory.Delete(dir, true);
    }

    [Fact]
    public async Task UnreachableCoreIsOneLineNamingTheUrl()
    {
        var (code, console) = await TestConsole.RunAsync("spaces", "runtime", "alice/app", "--core", "http://127.0.0.1:9", "--token", "t");
        Assert.Equal(2, code);
        Assert.Contains("cannot reach http://127.0.0.1:9/", console.StdErr);
    }

    [Fact]
    public async Task SpacesCommandsAgainstARealCoreIncludingTokensListAndRevoke()
    {
        await using var core = await AliceCore.StartAsync();
        var url = core.Url;
        var auth = core.Auth;
        var (code, console) = await TestConsole.RunAsync(["spaces", "create", "alice/app", "--sdk", "docker", .. auth]);
        Assert.True(code == 0, console.StdErr);
        // Money reads in dollars; micro-USD only in the JSON fields that say so.
        (code, console) = await TestConsole.RunAsync(["spaces", "hardware", .. auth]);
        Assert.True(code == 0, console.StdErr);
        Assert.Matches(@"(?m)^t4-small .* \$0\.60/h$", console.StdOut);
        Assert.Matches(@"(?m)^a100-large .* \$4\.13/h$", console.StdOut);
        (code, console) = await TestConsole.RunAsync(["spaces", "usage", "alice/app", .. auth]);
        Assert.True(code == 0, console.StdErr);
        Assert.Matches(@"(?m)^owed: \$0\.00$", console.StdOut);
        Assert.DoesNotContain("µ", console.StdOut);
        (code, console) = await TestConsole.RunAsync(["spaces", "token", "alice/app", "--json", .. auth]);
        Assert.True(code == 0, console.StdErr);
        using var doc = System.Text.Json.JsonDocument.Parse(console.StdOut);
        Assert.Equal(["space", "kind", "id", "token"], doc.RootElement.EnumerateObject().Select(p => p.Name));
        Assert.Equal("alice/app", doc.RootElement.GetProperty("space").GetString());
        Assert.Equal("runner", doc.RootElement.GetProperty("kind").GetString());
        var token = doc.RootElement.GetProperty("token").GetString()!;
        var id = doc.RootElement.GetProperty("id").GetString()!;
        Assert.StartsWith("grr_", token);

        // Text: the token alone on the last line, its id named above it.
        (code, console) = await TestConsole.RunAsync(["spaces", "token", "alice/app", .. auth]);
        Assert.True(code == 0, console.StdErr);
        var lines = console.StdOut.TrimEnd().Split('\n');
        Assert.StartsWith("grr_", lines[^1]);
        Assert.Contains("--revoke ", lines[0]);

        (code, console) = await TestConsole.RunAsync(["spaces", "token", "alice/app", "--list", .. auth]);
        Assert.True(code == 0, console.StdErr);
        Assert.Equal(2, console.StdOut.TrimEnd().Split('\n').Length);
        Assert.Contains(id + "  " + token[..8], console.StdOut);
        Assert.DoesNotContain(token, console.StdOut);

        (code, console) = await TestConsole.RunAsync(["spaces", "token", "alice/app", "--revoke", id, .. auth]);
        Assert.True(code == 0, console.StdErr);
        Assert.Contains($"revoked runner token {id}", console.StdOut);
        (code, console) = await TestConsole.RunAsync(["spaces", "token", "alice/app", "--list", "--json", .. auth]);
        using (var listed = System.Text.Json.JsonDocument.Parse(console.StdOut))
            Assert.DoesNotContain(listed.RootElement.EnumerateArray(), t => t.GetProperty("id").GetString() == id);
        // The core's refusals: exit 2 with its message; --list with --revoke is a usage error.
        (code, console) = await TestConsole.RunAsync(["spaces", "token", "alice/app", "--revoke", id, .. auth]);
        Assert.Equal(2, code);
        Assert.Contains("no runner token with id", console.StdErr);
        (code, console) = await TestConsole.RunAsync(["spaces", "token", "alice/app", "--list", "--revoke", id, .. auth]);
        Assert.Equal(2, code);
        Assert.Contains("not both", console.StdErr);
        (code, console) = await TestConsole.RunAsync(["spaces", "token", "alice/app", "--revoke", id, "--core", url, "--token", token]);
        Assert.Equal(2, code);
        Assert.Contains("revoked", console.StdErr);
    }

    [Fact]
    public void BuiltInCatalogueFeedsTheCoreWithTheDocumentsPrices()
    {
        var c = Commands.CoreServeCommand.LoadCatalogue(null);
        Assert.Equal(900_000, c.Get("t4-medium").HourlyMicroUsd);
        Assert.True(c.Get("cpu-basic").IsFree);
        Assert.Equal(7, c.Flavors.Count);
        Assert.Equal("T4", c.Get("t4-small").Accelerator!.Model);
    }
}

/// <summary>A core on loopback (SQLite in a temp file) with the user alice, for the CLI's tests against a real core.</summary>
internal sealed class AliceCore : IAsyncDisposable
{
    private const string Token = "alice-token-123456";
    private readonly Microsoft.AspNetCore.Builder.WebApplication _app;
    private readonly string _db;
    public string Url { get; }
    public string[] Auth => ["--core", Url, "--token", Token];

    private AliceCore(Microsoft.AspNetCore.Builder.WebApplication app, string db) =>
        (_app, _db, Url) = (app, db, GpuRunner.Core.CoreHost.Addresses(app)[0]);

    public static async Task<AliceCore> StartAsync()
    {
        var db = Path.Combine(Path.GetTempPath(), $"gpurunner-cli-{Guid.NewGuid():N}.db");
        var o = new GpuRunner.Core.CoreOptions { RunTimeRules = false };
        o.Urls.Add("http://127.0.0.1:0");
        o.Users.Add(("alice", Token, false));
        var app = await GpuRunner.Core.CoreHost.CreateAsync(GpuRunner.Core.CoreHost.OpenStore("sqlite:" + db, TimeProvider.System), o,
            l => l.ClearProviders());
        await app.StartAsync();
        return new AliceCore(app, db);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        foreach (var f in Directory.GetFiles(Path.GetTempPath(), Path.GetFileName(_db) + "*")) File.Delete(f);
    }
}
