using GpuRunner.Cli.Infrastructure;
using GpuRunner.Client;

namespace GpuRunner.Cli.Exec;

/// <summary>Where to report: flags first, then GPURUNNER_CORE_URL / SPACE_ID / GPURUNNER_TOKEN.</summary>
public sealed record CoreSettings(Uri Url, string Space, string Token)
{
    public const string UrlVariable = "GPURUNNER_CORE_URL", SpaceVariable = "SPACE_ID", TokenVariable = "GPURUNNER_TOKEN";

    /// <summary>
    /// Null when no core URL is configured (the runner then only logs). A core URL without a space or a token, or a
    /// malformed one, is a usage error: silently not reporting would hide a broken deployment.
    /// </summary>
    public static CoreSettings? Resolve(string? url, string? space, string? token, Func<string, string?>? env = null)
    {
        env ??= Environment.GetEnvironmentVariable;
        url = First(url, env(UrlVariable));
        if (url is null) return null;
        space = First(space, env(SpaceVariable));
        token = First(token, env(TokenVariable));
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != "http" && uri.Scheme != "https"))
            throw new CommandException($"--core must be an http(s) URL, got '{url}'");
        if (space is null)
            throw new CommandException($"a core is configured ({url}) but no space: pass --space NS/NAME or set {SpaceVariable}");
        if (token is null)
            throw new CommandException($"a core is configured ({url}) but no token: pass --token or set {TokenVariable}");
        try { RunnerClient.ParseSpace(space); }
        catch (ArgumentException e) { throw new CommandException(e.Message); }
        // A base path is kept (a core behind a reverse proxy at /gpurunner/); RunnerClient appends relative routes.
        if (!uri.AbsolutePath.EndsWith('/')) uri = new Uri(uri + "/");
        return new CoreSettings(uri, space, token);
    }

    private static string? First(params string?[] values) => values.FirstOrDefault(v => !string.IsNullOrWhiteSpace(v))?.Trim();
}
