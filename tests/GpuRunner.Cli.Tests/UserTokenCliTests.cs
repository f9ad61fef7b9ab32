using Microsoft.Extensions.Logging;

namespace GpuRunner.Cli.Tests;

/// <summary>`gpurunner spaces tokens`: a user makes, lists and revokes their own named tokens against a real core.</summary>
public class UserTokenCliTests
{
    [Fact]
    public async Task UserTokensAreMadeListedAndRevokedFromTheCli()
    {
        await using var core = await AliceCore.StartAsync();
        var url = core.Url;
        var auth = core.Auth;
        var (code, console) = await TestConsole.RunAsync(["spaces", "tokens", "--create", "laptop", .. auth]);
        Assert.True(code == 0, console.StdErr);
        var lines = console.StdOut.TrimEnd().Split('\n');
        var token = lines[^1].Trim();
        Assert.StartsWith("gru_", token);
        var id = System.Text.RegularExpressions.Regex.Match(lines[0], "--revoke ([0-9a-f]{12})").Groups[1].Value;
        Assert.NotEmpty(id);

        // The new token works on its own, and lists the seeded token and itself, never a secret.
        (code, console) = await TestConsole.RunAsync(["spaces", "tokens", "--core", url, "--token", token]);
        Assert.True(code == 0, console.StdErr);
        Assert.Contains(id + "  laptop", console.StdOut);
        Assert.Contains("seed", console.StdOut);
        Assert.DoesNotContain(token, console.StdOut);

        (code, console) = await TestConsole.RunAsync(["spaces", "tokens", "--revoke", id, .. auth]);
        Assert.True(code == 0, console.StdErr);
        Assert.Contains($"revoked token {id} 'laptop'", console.StdOut);
        (code, console) = await TestConsole.RunAsync(["spaces", "tokens", "--core", url, "--token", token]);
        Assert.Equal(2, code);
        Assert.Contains("revoked", console.StdErr);
        (code, console) = await TestConsole.RunAsync(["spaces", "tokens", "--create", "x", "--revoke", id, .. auth]);
        Assert.Equal(2, code);
    }
}
