using System.Diagnostics;
using System.Text.Json;

namespace GpuRunner.Core.Tests;

/// <summary>
/// An unmodified Hub client against the core on loopback: the JavaScript `@huggingface/hub` (the Python
/// huggingface_hub is not installable here). Of the routes the core serves, that package exposes createRepo (type
/// space), deleteRepo, listSpaces (with the runtime) and whoAmI; it has no runtime/hardware/sleep/pause/restart
/// calls (those are Python-only), so those stay covered by the shape tests. npm installs the package into a folder
/// under the temp directory (reused between runs); without node/npm or the registry the test is skipped and says why.
/// </summary>
public class HubJsClientTests
{
    public const string Package = "@huggingface/hub", Version = "2.17.5";
    private const string Token = "hf_carol_0123456789abcdef"; // the JS client refuses tokens without the hf_ prefix

    private const string Script = """
        import { createRepo, deleteRepo, listSpaces, whoAmI } from "@huggingface/hub";
        const hubUrl = process.env.HUB_URL, accessToken = process.env.HUB_TOKEN;
        const out = {};
        const repo = { type: "space", name: "carol/js-app" };
        out.repoUrl = (await createRepo({ repo, sdk: "gradio", accessToken, hubUrl })).repoUrl;
        try { await createRepo({ repo, sdk: "gradio", accessToken, hubUrl }); out.again = null; }
        catch (e) { out.again = { status: e.statusCode, message: e.message }; }
        const me = await whoAmI({ accessToken, hubUrl });
        out.whoami = { type: me.type, name: me.name };
        out.listed = [];
        for await (const s of listSpaces({ search: { owner: "carol" }, additionalFields: ["runtime"], accessToken, hubUrl }))
          out.listed.push({ name: s.name, sdk: s.sdk, stage: s.runtime?.stage ?? null, requested: s.runtime?.hardware?.requested ?? null });
        await deleteRepo({ repo, accessToken, hubUrl });
        out.afterDelete = [];
        for await (const s of listSpaces({ search: { owner: "carol" }, accessToken, hubUrl })) out.afterDelete.push(s.name);
        try { await deleteRepo({ repo, accessToken, hubUrl }); out.deleteAgain = null; }
        catch (e) { out.deleteAgain = { status: e.statusCode, message: e.message }; }
        console.log(JSON.stringify(out));
        """;

    [SkippableFact]
    public async Task TheJavaScriptHubClientCreatesListsAndDeletesSpaces()
    {
        var dir = await InstallAsync();
        await File.WriteAllTextAsync(Path.Combine(dir, "drive.mjs"), Script);
        await using var c = await TestCore.StartAsync("sqlite", o => o.Users.Add(("carol", Token, false)));
        var hubUrl = c.BaseUrl.ToString().TrimEnd('/');
        var (code, stdout, stderr) = await RunAsync("node", ["drive.mjs"], dir, TimeSpan.FromSeconds(60),
            new() { ["HUB_URL"] = hubUrl, ["HUB_TOKEN"] = Token });
        Assert.True(code == 0, $"node drive.mjs failed ({code}): {stderr}");
        using var doc = JsonDocument.Parse(stdout.Trim().Split('\n')[^1]);
        var r = doc.RootElement;
        Assert.Equal($"{hubUrl}/spaces/carol/js-app", r.GetProperty("repoUrl").GetString());
        // The client surfaces the core's `error` text and status.
        Assert.Equal(409, r.GetProperty("again").GetProperty("status").GetInt32());
        Assert.Contains("already exists", r.GetProperty("again").GetProperty("message").GetString());
        Assert.Equal(("user", "carol"), (r.GetProperty("whoami").GetProperty("type").GetString(), r.GetProperty("whoami").GetProperty("name").GetString()));
        var listed = Assert.Single(r.GetProperty("listed").EnumerateArray());
        Assert.Equal(("carol/js-app", "gradio", "BUILDING", "cpu-basic"), (listed.GetProperty("name").GetString(), listed.GetProperty("sdk").GetString(),
            listed.GetProperty("stage").GetString(), listed.GetProperty("requested").GetString()));
        Assert.Equal(0, r.GetProperty("afterDelete").GetArrayLength());
        Assert.Equal(404, r.GetProperty("deleteAgain").GetProperty("status").GetInt32());
        Assert.Contains("not found", r.GetProperty("deleteAgain").GetProperty("message").GetString());
        await c.ExpectAsync(404, HttpMethod.Get, "api/spaces/carol/js-app/runtime", Token);
    }

    /// <summary>Installs the package once into $TMPDIR/gpurunner-hfhub-VERSION; skips when that is not possible.</summary>
    private static async Task<string> InstallAsync()
    {
        var node = await TryRunAsync("node", ["--version"]);
        Skip.If(node is null, "node is not installed (.ci/run installs nodejs and npm)");
        Skip.If(!int.TryParse(node.TrimStart('v').Split('.')[0], out var major) || major < 18, $"{Package} needs node >= 18, found {node}");
        Skip.If(await TryRunAsync("npm", ["--version"]) is null, "npm is not installed (.ci/run installs nodejs and npm)");
        var dir = Path.Combine(Path.GetTempPath(), $"gpurunner-hfhub-{Version}");
        var manifest = Path.Combine(dir, "node_modules", "@huggingface", "hub", "package.json");
        if (File.Exists(manifest) && File.ReadAllText(manifest).Contains($"\"version\": \"{Version}\"")) return dir;
        Directory.CreateDirectory(dir);
        var (code, _, err) = await RunAsync("npm", ["install", "--no-save", "--no-audit", "--no-fund", "--prefix", dir, $"{Package}@{Version}"],
            dir, TimeSpan.FromMinutes(3));
        var last = err.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "";
        Skip.If(code != 0 || !File.Exists(manifest), $"npm could not install {Package}@{Version} (registry unreachable?): exit {code}: {last}");
        return dir;
    }

    private static async Task<string?> TryRunAsync(string file, string[] args)
    {
        try
        {
            var (code, stdout, _) = await RunAsync(file, args, Path.GetTempPath(), TimeSpan.FromSeconds(30));
            return code == 0 ? stdout.Trim() : null;
        }
        catch (System.ComponentModel.Win32Exception) { return null; } // not on PATH
    }

    private static async Task<(int Code, string StdOut, string StdErr)> RunAsync(string file, string[] args, string cwd, TimeSpan timeout,
        Dictionary<string, string>? env = null)
    {
        var psi = new ProcessStartInfo(file) { WorkingDirectory = cwd, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in env ?? []) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try { await p.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish within {timeout.TotalSeconds:0} s");
        }
        return (p.ExitCode, await stdout, await stderr);
    }
}
