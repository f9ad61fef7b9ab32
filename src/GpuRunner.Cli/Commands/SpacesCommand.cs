using System.CommandLine;
using System.Text.Json;
using GpuRunner.Cli.Infrastructure;
using GpuRunner.Client;

namespace GpuRunner.Cli.Commands;

/// <summary>
/// `gpurunner spaces create|runtime|hardware|upgrade|sleeptime|pause|restart|usage|token [--list|--revoke ID]|tokens`: the core's
/// Space API from a shell.
/// --core/--token or GPURUNNER_CORE_URL/GPURUNNER_TOKEN. Exit 2 when the core refuses (its `error` is printed) or
/// cannot be reached.
/// </summary>
public static class SpacesCommand
{
    private static readonly Option<string?> Core = new("--core")
    {
        Description = "The core's base URL (default: $GPURUNNER_CORE_URL).", Recursive = true,
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("GPURUNNER_CORE_URL"),
    };
    private static readonly Option<string?> Token = new("--token")
    {
        Description = "Your user token (default: $GPURUNNER_TOKEN).", Recursive = true,
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("GPURUNNER_TOKEN"),
    };

    public static Command Create(IConsole console)
    {
        var root = new Command("spaces", "Manage Spaces on a GpuRunner core (Hub-compatible API).");
        root.Options.Add(Core);
        root.Options.Add(Token);

        var space = () => new Argument<string>("space") { Description = "NAMESPACE/NAME" };

        {
            var s = space(); var sdk = new Option<string>("--sdk") { Description = "docker, gradio, streamlit or static.", DefaultValueFactory = _ => "docker" };
            var hw = new Option<string?>("--hardware") { Description = "Flavor, e.g. t4-small (default cpu-basic)." };
            var sleep = new Option<long?>("--sleep") { Description = "Sleep time in seconds (-1 never; paid hardware only)." };
            var c = new Command("create", "Create a Space.") { s, sdk, hw, sleep };
            Handle(c, console, async (p, cl, ct) => await cl.CreateAsync(p.GetValue(s)!, p.GetValue(sdk)!, p.GetValue(hw), p.GetValue(sleep), ct),
                j => $"created {j.GetProperty("name").GetString()}: {j.GetProperty("url").GetString()}");
            root.Subcommands.Add(c);
        }
        {
            var s = space();
            var c = new Command("runtime", "Show a Space's stage, hardware, sleep time and billing.") { s };
            Handle(c, console, async (p, cl, ct) => await cl.RuntimeAsync(p.GetValue(s)!, ct), Runtime);
            root.Subcommands.Add(c);
        }
        {
            var s = new Argument<string?>("space") { Description = "NAMESPACE/NAME (omit to list the hardware and prices).", Arity = ArgumentArity.ZeroOrOne };
            var flavor = new Argument<string?>("flavor") { Description = "The flavor to request, e.g. t4-medium.", Arity = ArgumentArity.ZeroOrOne };
            var sleep = new Option<long?>("--sleep") { Description = "Also set the sleep time (seconds, -1 never)." };
            var c = new Command("hardware", "Request hardware for a Space, or list the hardware and prices.") { s, flavor, sleep };
            Handle(c, console, async (p, cl, ct) =>
            {
                if (p.GetValue(s) is not { } id) return await cl.ListHardwareAsync(ct);
                var f = p.GetValue(flavor) ?? throw new CommandException("give the flavor to request, e.g. 'gpurunner spaces hardware alice/app t4-small'");
                return await cl.RequestHardwareAsync(id, f, p.GetValue(sleep), ct);
            }, j => j.ValueKind == JsonValueKind.Array
                ? string.Join('\n', j.EnumerateArray().Select(h =>
                    $"{h.GetProperty("name").GetString(),-14} {h.GetProperty("prettyName").GetString(),-22} {Usd(h, "hourlyCostMicroUSD")}/h"))
                : Runtime(j));
            root.Subcommands.Add(c);
        }
        {
            var s = space(); var secs = new Argument<long>("seconds") { Description = "Seconds of inactivity before sleeping; -1 = never." };
            var c = new Command("sleeptime", "Set a Space's sleep time (paid hardware only).") { s, secs };
            Handle(c, console, async (p, cl, ct) => await cl.SetSleepTimeAsync(p.GetValue(s)!, p.GetValue(secs), ct), Runtime);
            root.Subcommands.Add(c);
        }
        {
            var s = space();
            var c = new Command("pause", "Pause a Space (billing stops; only the owner can restart it).") { s };
            Handle(c, console, async (p, cl, ct) => await cl.PauseAsync(p.GetValue(s)!, ct), Runtime);
            root.Subcommands.Add(c);
        }
        {
            var s = space(); var factory = new Option<bool>("--factory") { Description = "Factory reboot (rebuild from scratch)." };
            var c = new Command("restart", "Restart a Space (also a paused one; owner only).") { s, factory };
            Handle(c, console, async (p, cl, ct) => await cl.RestartAsync(p.GetValue(s)!, p.GetValue(factory), ct), Runtime);
            root.Subcommands.Add(c);
        }
        {
            var s = space();
            var period = new Option<string?>("--period") { Description = "YYYY-MM (default: this month)." };
            var csv = new Option<bool>("--csv") { Description = "Print the invoice as CSV." };
            var current = new Option<bool>("--current") { Description = "Cost of the current run instead of a period." };
            var c = new Command("usage", "Show a Space's usage and invoice (owner).") { s, period, csv, current };
            c.SetHandler(console, async (p, ct) =>
            {
                using var cl = Client(p);
                try
                {
                    if (p.GetValue(csv) && !p.GetValue(current))
                    {
                        console.Out.Write(await cl.UsageAsync(p.GetValue(s)!, p.GetValue(period), true, ct));
                        return ReturnCode.Ok;
                    }
                    var j = p.GetValue(current)
                        ? await cl.CurrentRunAsync(p.GetValue(s)!, ct)
                        : JsonDocument.Parse(await cl.UsageAsync(p.GetValue(s)!, p.GetValue(period), false, ct)).RootElement.Clone();
                    Print(console, p, j, Invoice);
                    return ReturnCode.Ok;
                }
                catch (Exception e) when (e is SpacesApiException or ArgumentException) { throw new CommandException(e.Message); }
            });
            root.Subcommands.Add(c);
        }
        {
            var s = space();
            var list = new Option<bool>("--list") { Description = "List the Space's runner tokens by id and prefix (the secrets are never shown again)." };
            var revoke = new Option<string?>("--revoke") { Description = "Revoke the runner token with this id (from --list); it gets 401 at once." };
            var c = new Command("token", "Issue a runner token for a Space (owner only; printed on the last line), or --list / --revoke ID.") { s, list, revoke };
            c.SetHandler(console, async (p, ct) =>
            {
                if (p.GetValue(list) && p.GetValue(revoke) is not null) throw new CommandException("give --list or --revoke ID, not both");
                using var cl = Client(p);
                try
                {
                    var id = p.GetValue(s)!;
                    if (p.GetValue(list))
                    {
                        Print(console, p, await cl.ListRunnerTokensAsync(id, ct), j => j.GetArrayLength() == 0
                            ? $"{id} has no runner tokens"
                            : string.Join('\n', j.EnumerateArray().Select(t =>
                                $"{Str(t, "id")}  {Str(t, "prefix") + "…",-10} created {Str(t, "created")} by {Str(t, "createdBy")}")));
                        return ReturnCode.Ok;
                    }
                    if (p.GetValue(revoke) is { } tokenId)
                    {
                        Print(console, p, await cl.RevokeRunnerTokenAsync(id, tokenId, ct), j => $"revoked runner token {Str(j, "id")} ({Str(j, "prefix")}…) of {id}");
                        return ReturnCode.Ok;
                    }
                    var (token, tid) = await cl.IssueRunnerTokenWithIdAsync(id, ct);
                    if (p.GetValue(CommonOptions.Json))
                        console.Out.WriteLine(JsonSerializer.Serialize(new Dictionary<string, string?> { ["space"] = id, ["kind"] = "runner", ["id"] = tid, ["token"] = token },
                            SpacesJsonContext.Default.DictionaryStringString));
                    else
                    {
                        console.Out.WriteLine($"runner token {tid} for {id} (shown once; the core keeps only its hash; revoke: --revoke {tid}):");
                        console.Out.WriteLine(token);
                    }
                    return ReturnCode.Ok;
                }
                catch (Exception e) when (e is SpacesApiException or ArgumentException) { throw new CommandException(e.Message); }
            });
            root.Subcommands.Add(c);
        }
        {
            var create = new Option<string?>("--create") { Description = "Make a named token for yourself (printed once, on the last line)." };
            var list = new Option<bool>("--list") { Description = "List your tokens by id, name and prefix (the default)." };
            var revoke = new Option<string?>("--revoke") { Description = "Revoke your token with this id (from --list); it gets 401 at once." };
            var c = new Command("tokens", "Your own user tokens: --list (default), --create NAME, --revoke ID.") { create, list, revoke };
            c.SetHandler(console, async (p, ct) =>
            {
                if (new[] { p.GetValue(create) is not null, p.GetValue(list), p.GetValue(revoke) is not null }.Count(b => b) > 1)
                    throw new CommandException("give one of --create NAME, --list, --revoke ID");
                using var cl = Client(p);
                try
                {
                    if (p.GetValue(create) is { } name)
                    {
                        var made = await cl.IssueUserTokenAsync(name, ct);
                        if (p.GetValue(CommonOptions.Json)) console.Out.WriteLine(made.GetRawText());
                        else
                        {
                            console.Out.WriteLine($"token {Str(made, "id")} '{Str(made, "name")}' (shown once; the core keeps only its hash; revoke: --revoke {Str(made, "id")}):");
                            console.Out.WriteLine(Str(made, "token"));
                        }
                        return ReturnCode.Ok;
                    }
                    if (p.GetValue(revoke) is { } tokenId)
                    {
                        Print(console, p, await cl.RevokeUserTokenAsync(tokenId, ct), j => $"revoked token {Str(j, "id")} '{Str(j, "name")}'");
                        return ReturnCode.Ok;
                    }
                    Print(console, p, await cl.ListUserTokensAsync(ct), j => j.GetArrayLength() == 0
                        ? "you have no tokens"
                        : string.Join('\n', j.EnumerateArray().Select(t => $"{Str(t, "id")}  {Str(t, "name"),-16} {(Str(t, "prefix") is var pf && pf != "-" ? pf + "…" : "-"),-10} created {Str(t, "created")}")));
                    return ReturnCode.Ok;
                }
                catch (Exception e) when (e is SpacesApiException or ArgumentException) { throw new CommandException(e.Message); }
            });
            root.Subcommands.Add(c);
        }
        root.Subcommands.Add(SpacesUpgradeCommand.Create(console)); // hardware change + wait for its smoke report
        return root;
    }

    internal static SpacesClient Client(ParseResult p)
    {
        var url = p.GetValue(Core);
        if (string.IsNullOrWhiteSpace(url)) throw new CommandException("no core URL: pass --core URL or set GPURUNNER_CORE_URL");
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            throw new CommandException($"--core must be an http(s) URL, got '{url}'");
        return new SpacesClient(uri, p.GetValue(Token));
    }

    private static void Handle(Command c, IConsole console, Func<ParseResult, SpacesClient, CancellationToken, Task<JsonElement>> call, Func<JsonElement, string> plain)
    {
        c.SetHandler(console, async (p, ct) =>
        {
            using var cl = Client(p);
            try
            {
                Print(console, p, await call(p, cl, ct), plain);
                return ReturnCode.Ok;
            }
            catch (Exception e) when (e is SpacesApiException or ArgumentException) { throw new CommandException(e.Message); }
        });
    }

    private static void Print(IConsole console, ParseResult p, JsonElement j, Func<JsonElement, string> plain) =>
        console.Out.WriteLine(p.GetValue(CommonOptions.Json) ? j.GetRawText() : plain(j));

    private static string Str(JsonElement j, string name) =>
        j.TryGetProperty(name, out var v) ? v.ValueKind switch { JsonValueKind.Null => "-", JsonValueKind.String => v.GetString()!, _ => v.GetRawText() } : "-";

    /// <summary>Money as people read it ("$1.80", "$0.068834"): micro-USD stay in the JSON fields named so.</summary>
    private static string Usd(JsonElement j, string microField) =>
        j.TryGetProperty(microField, out var v) && v.TryGetInt64(out var micro) ? Lifecycle.Money.Format(micro) : "-";

    private static string Runtime(JsonElement j)
    {
        var hw = j.GetProperty("hardware");
        var lines = new List<string>
        {
            $"{Str(j, "id")}: {Str(j, "stage")} on {Str(hw, "current")} (requested {Str(hw, "requested")})",
            $"sleep: {(j.TryGetProperty("sleepTimeEffective", out var s) && s.ValueKind == JsonValueKind.Number ? s.GetInt64() + " s" : "never")}",
        };
        if (j.TryGetProperty("billing", out var b) && b.TryGetProperty("billing", out var on) && on.ValueKind == JsonValueKind.True)
            lines.Add($"billing: {Str(b, "flavor")} since {Str(b, "since")}");
        else lines.Add("billing: off");
        if (Str(j, "pauseReason") is var pr && pr != "-") lines.Add($"paused: {pr}");
        if (j.TryGetProperty("hardwareMismatch", out var m) && m.ValueKind == JsonValueKind.Object)
            lines.Add($"hardware mismatch: {Str(m, "summary")} (billed as {Str(m, "billedAs")})");
        return string.Join('\n', lines);
    }

    private static string Invoice(JsonElement j)
    {
        var lines = new List<string> { $"{Str(j, "scope")}: {Str(j, "from")} .. {Str(j, "to")}{(Str(j, "provisional") == "true" ? " (provisional: a run is still open)" : "")}" };
        foreach (var l in j.GetProperty("lines").EnumerateArray())
            lines.Add($"  {Str(l, "space")} {Str(l, "flavor")}: {Str(l, "minutes")} min, charged {Usd(l, "chargedMicroUSD")}, granted {Usd(l, "grantedMicroUSD")}, owed {Usd(l, "owedMicroUSD")}");
        lines.Add($"owed: {Usd(j, "owedMicroUSD")}");
        return string.Join('\n', lines);
    }
}
