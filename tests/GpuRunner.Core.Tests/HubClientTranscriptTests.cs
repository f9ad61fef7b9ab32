using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace GpuRunner.Core.Tests;

/// <summary>
/// Transcripts of the Python Hub client (huggingface_hub, not installable here): every request is rebuilt byte for
/// byte as the client's own source builds it (method, path, query, `requests`' json= body with Python's
/// `json.dumps` separators and key order, `Authorization: Bearer` and a hf_hub user-agent from
/// `_build_hf_headers`), and every answer is checked for what the client's parser reads. Source read:
/// huggingface/huggingface_hub src/huggingface_hub/hf_api.py, _space_api.py, utils/_http.py.
/// </summary>
public class HubClientTranscriptTests
{
    private const string UserAgent = "unknown/None; hf_hub/1.0.0; python/3.12.3";

    /// <summary>Sends a request the way `get_session().<method>(url, headers=..., json=..., params=...)` does.</summary>
    private static async Task<(HttpStatusCode Status, JsonElement Body, HttpResponseMessage Response)> Py(TestCore c, HttpMethod method,
        string pathAndQuery, string? token, string? json = null)
    {
        using var req = new HttpRequestMessage(method, new Uri(c.BaseUrl, pathAndQuery.TrimStart('/')));
        if (token is not null) req.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        req.Headers.TryAddWithoutValidation("User-Agent", UserAgent);
        req.Headers.TryAddWithoutValidation("Accept", "*/*");
        req.Headers.TryAddWithoutValidation("Accept-Encoding", "gzip, deflate");
        if (json is not null)
        {
            req.Content = new ByteArrayContent(Encoding.UTF8.GetBytes(json));
            req.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json"); // requests: no charset
        }
        else if (method == HttpMethod.Post) req.Content = new ByteArrayContent([]); // requests sends Content-Length: 0
        var r = await c.Http.SendAsync(req);
        var text = await r.Content.ReadAsStringAsync();
        JsonElement body = default;
        if (!string.IsNullOrWhiteSpace(text))
        {
            using var doc = JsonDocument.Parse(text);
            body = doc.RootElement.Clone();
        }
        return (r.StatusCode, body, r);
    }

    /// <summary>_space_api.py SpaceRuntime.__init__: data["stage"] (required), data.get("hardware") or {} then
    /// .get("current") / .get("requested"), data.get("gcTimeout"), data.get("storage"), data.get("devMode", False),
    /// data.get("hotReloading") (None or {status, replicaStatuses}), data.get("volumes") (None or a list of
    /// Volume(**v) with source and mountPath), data itself kept as raw.</summary>
    private static void AssertSpaceRuntime(JsonElement d)
    {
        Assert.Equal(JsonValueKind.Object, d.ValueKind);
        Assert.Equal(JsonValueKind.String, d.GetProperty("stage").ValueKind);
        Assert.Contains(d.GetProperty("stage").GetString(), new[]
        {
            "NO_APP_FILE", "CONFIG_ERROR", "BUILDING", "BUILD_ERROR", "RUNNING", "RUNNING_BUILDING", "RUNTIME_ERROR", "DELETING",
            "STOPPED", "PAUSED", "APP_STARTING", "RUNNING_APP_STARTING", "SLEEPING",
        });
        if (d.TryGetProperty("hardware", out var hw) && hw.ValueKind != JsonValueKind.Null)
        {
            Assert.Equal(JsonValueKind.Object, hw.ValueKind);
            foreach (var k in new[] { "current", "requested" })
                if (hw.TryGetProperty(k, out var v)) Assert.True(v.ValueKind is JsonValueKind.String or JsonValueKind.Null, $"hardware.{k} is {v.ValueKind}");
        }
        if (d.TryGetProperty("gcTimeout", out var gc)) Assert.True(gc.ValueKind is JsonValueKind.Number or JsonValueKind.Null, $"gcTimeout is {gc.ValueKind}");
        if (gc.ValueKind == JsonValueKind.Number) Assert.True(gc.TryGetInt64(out _), "gcTimeout is an int");
        if (d.TryGetProperty("storage", out var st)) Assert.True(st.ValueKind is JsonValueKind.String or JsonValueKind.Null);
        if (d.TryGetProperty("devMode", out var dm)) Assert.True(dm.ValueKind is JsonValueKind.True or JsonValueKind.False);
        if (d.TryGetProperty("hotReloading", out var hr) && hr.ValueKind != JsonValueKind.Null)
        {
            Assert.True(hr.TryGetProperty("status", out _));
            Assert.True(hr.TryGetProperty("replicaStatuses", out _));
        }
        if (d.TryGetProperty("volumes", out var vols) && vols.ValueKind != JsonValueKind.Null)
        {
            Assert.Equal(JsonValueKind.Array, vols.ValueKind);
            foreach (var v in vols.EnumerateArray())
            {
                Assert.True(v.TryGetProperty("source", out _));
                Assert.True(v.TryGetProperty("mountPath", out _) || v.TryGetProperty("mount_path", out _));
            }
        }
    }

    /// <summary>hf_api.py repo_type_and_id_from_hf_id (used by RepoUrl.__init__, which create_repo returns from
    /// d["url"]): the endpoint without scheme must occur in the URL, segments[-2:] are namespace and name, and
    /// segments[-3] ("spaces") maps to repo_type "space".</summary>
    private static (string? RepoType, string Namespace, string Name) ParseRepoUrl(string url, string endpoint)
    {
        var hubUrl = endpoint.Replace("https://", "").Replace("http://", "");
        Assert.True(url.Contains(hubUrl) && !url.Contains('@'), $"the client would not recognise {url} as a URL of {endpoint}");
        var seg = url.Split('/');
        var type = seg.Length > 2 && !seg[^3].Contains(hubUrl) ? seg[^3] : null;
        return (type switch { "spaces" => "space", "datasets" => "dataset", "models" => "model", var t => t }, seg[^2], seg[^1]);
    }

    private static string Endpoint(TestCore c) => c.BaseUrl.ToString().TrimEnd('/');

    /// <summary>hf_api.py HfApi.create_repo(repo_id, private=, repo_type="space", space_sdk=, space_hardware=,
    /// space_sleep_time=): POST {endpoint}/api/repos/create, json {"name", "organization", "private"?, "type", "sdk",
    /// then "hardware", "storageTier", "sleepTimeSeconds", "secrets", "variables" when given}; reads d["url"] into
    /// RepoUrl; a 409 is swallowed only with exist_ok (so the conflict must be a 409).</summary>
    [Fact]
    public async Task CreateRepoSpaceAsTheClientSendsIt()
    {
        await using var c = await TestCore.StartAsync("sqlite");
        var body = """{"name": "app", "organization": "alice", "private": true, "type": "space", "sdk": "docker", "hardware": "t4-medium", "sleepTimeSeconds": 3600}""";
        var (status, d, _) = await Py(c, HttpMethod.Post, "api/repos/create", TestCore.Alice, body);
        Assert.Equal(HttpStatusCode.OK, status);
        var url = d.GetProperty("url").GetString()!;
        Assert.Equal(("space", "alice", "app"), ParseRepoUrl(url, Endpoint(c)));

        // Fields the client sends that the core has no use for (private, storageTier, secrets, variables,
        // resourceGroupId) must not break the call; organization null means the caller's own namespace.
        var all = """{"name": "app2", "organization": null, "private": false, "type": "space", "sdk": "gradio", "hardware": "t4-small", "storageTier": "small", "sleepTimeSeconds": -1, "secrets": [{"key": "K", "value": "V"}], "variables": [{"key": "A", "value": "B", "description": "d"}], "resourceGroupId": "66670e5163145ca562cb1988"}""";
        (status, d, _) = await Py(c, HttpMethod.Post, "api/repos/create", TestCore.Alice, all);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(("space", "alice", "app2"), ParseRepoUrl(d.GetProperty("url").GetString()!, Endpoint(c)));

        // On cpu-basic the client only warns about a sleep time (request_space_hardware / create_repo); the core
        // refuses it with a 4xx whose `error` says why.
        var (cpu, cpuErr, _) = await Py(c, HttpMethod.Post, "api/repos/create", TestCore.Alice,
            """{"name": "app3", "organization": "alice", "type": "space", "sdk": "static", "hardware": "cpu-basic", "sleepTimeSeconds": 600}""");
        Assert.True((int)cpu is >= 400 and < 500, $"cpu-basic with a sleep time answered {cpu}");
        Assert.False(string.IsNullOrWhiteSpace(cpuErr.GetProperty("error").GetString()));

        // create_repo(exist_ok=True) relies on err.response.status_code == 409.
        (status, d, _) = await Py(c, HttpMethod.Post, "api/repos/create", TestCore.Alice, body);
        Assert.Equal(HttpStatusCode.Conflict, status);
        Assert.False(string.IsNullOrWhiteSpace(d.GetProperty("error").GetString()));

        var (_, rt, _) = await Py(c, HttpMethod.Get, "api/spaces/alice/app/runtime", TestCore.Alice);
        Assert.Equal("t4-medium", rt.GetProperty("hardware").GetProperty("requested").GetString());
        Assert.Equal(3600, rt.GetProperty("gcTimeout").GetInt64());
    }

    /// <summary>hf_api.py HfApi.get_space_runtime: GET {endpoint}/api/spaces/{repo_id}/runtime, no body, then
    /// SpaceRuntime(r.json()) (_space_api.py SpaceRuntime.__init__).</summary>
    [Fact]
    public async Task GetSpaceRuntimeParses()
    {
        await using var c = await TestCore.StartAsync("sqlite");
        await c.CreateSpaceAsync();
        var (status, d, r) = await Py(c, HttpMethod.Get, "api/spaces/alice/app/runtime", TestCore.Alice);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.StartsWith("application/json", r.Content.Headers.ContentType?.MediaType);
        AssertSpaceRuntime(d);
        Assert.Equal("t4-medium", d.GetProperty("hardware").GetProperty("requested").GetString());
    }

    /// <summary>hf_api.py HfApi.request_space_hardware(repo_id, hardware, sleep_time=): POST
    /// {endpoint}/api/spaces/{repo_id}/hardware, json {"flavor": hardware, "sleepTimeSeconds": sleep_time?};
    /// returns SpaceRuntime(r.json()).</summary>
    [Fact]
    public async Task RequestSpaceHardwareAsTheClientSendsIt()
    {
        await using var c = await TestCore.StartAsync("sqlite");
        await c.CreateSpaceAsync();
        var (status, d, _) = await Py(c, HttpMethod.Post, "api/spaces/alice/app/hardware", TestCore.Alice,
            """{"flavor": "a10g-small", "sleepTimeSeconds": 1800}""");
        Assert.Equal(HttpStatusCode.OK, status);
        AssertSpaceRuntime(d);
        Assert.Equal("a10g-small", d.GetProperty("hardware").GetProperty("requested").GetString());
        Assert.Equal(1800, d.GetProperty("gcTimeout").GetInt64());

        (status, d, _) = await Py(c, HttpMethod.Post, "api/spaces/alice/app/hardware", TestCore.Alice, """{"flavor": "t4-small"}""");
        Assert.Equal(HttpStatusCode.OK, status);
        AssertSpaceRuntime(d);
        Assert.Equal("t4-small", d.GetProperty("hardware").GetProperty("requested").GetString());
    }

    /// <summary>hf_api.py HfApi.set_space_sleep_time(repo_id, sleep_time): POST {endpoint}/api/spaces/{repo_id}/sleeptime,
    /// json {"seconds": sleep_time}; SpaceRuntime(r.json()), then reads requested_hardware or hardware (to warn on
    /// cpu-basic).</summary>
    [Fact]
    public async Task SetSpaceSleepTimeAsTheClientSendsIt()
    {
        await using var c = await TestCore.StartAsync("sqlite");
        await c.CreateSpaceAsync();
        var (status, d, _) = await Py(c, HttpMethod.Post, "api/spaces/alice/app/sleeptime", TestCore.Alice, """{"seconds": 600}""");
        Assert.Equal(HttpStatusCode.OK, status);
        AssertSpaceRuntime(d);
        Assert.Equal(600, d.GetProperty("gcTimeout").GetInt64());
        Assert.Equal("t4-medium", d.GetProperty("hardware").GetProperty("requested").GetString());

        (status, d, _) = await Py(c, HttpMethod.Post, "api/spaces/alice/app/sleeptime", TestCore.Alice, """{"seconds": -1}""");
        Assert.Equal(HttpStatusCode.OK, status);
        AssertSpaceRuntime(d);
    }

    /// <summary>hf_api.py HfApi.pause_space: POST {endpoint}/api/spaces/{repo_id}/pause, no body; SpaceRuntime(r.json())
    /// with stage PAUSED (its docstring). HfApi.restart_space(factory_reboot=): POST {endpoint}/api/spaces/{repo_id}/restart
    /// with params {} or {"factory": "true"} (query string, no body); SpaceRuntime(r.json()).</summary>
    [Fact]
    public async Task PauseAndRestartAsTheClientSendsThem()
    {
        await using var c = await TestCore.StartAsync("sqlite");
        await c.CreateSpaceAsync();
        await c.UpAsync();
        var (status, d, _) = await Py(c, HttpMethod.Post, "api/spaces/alice/app/pause", TestCore.Alice);
        Assert.Equal(HttpStatusCode.OK, status);
        AssertSpaceRuntime(d);
        Assert.Equal("PAUSED", d.GetProperty("stage").GetString());

        (status, d, _) = await Py(c, HttpMethod.Post, "api/spaces/alice/app/restart", TestCore.Alice);
        Assert.Equal(HttpStatusCode.OK, status);
        AssertSpaceRuntime(d);
        Assert.NotEqual("PAUSED", d.GetProperty("stage").GetString());

        (status, d, _) = await Py(c, HttpMethod.Post, "api/spaces/alice/app/restart?factory=true", TestCore.Alice);
        Assert.Equal(HttpStatusCode.OK, status);
        AssertSpaceRuntime(d);
    }

    /// <summary>hf_api.py HfApi.delete_repo(repo_id, repo_type="space", missing_ok=): DELETE {endpoint}/api/repos/delete,
    /// json {"name", "organization", "type"}; any 2xx. missing_ok only swallows RepositoryNotFoundError, which
    /// utils/_http.py hf_raise_for_status raises for header X-Error-Code: RepoNotFound (or a 401 on a repo URL).</summary>
    [Fact]
    public async Task DeleteRepoSpaceAndMissingOk()
    {
        await using var c = await TestCore.StartAsync("sqlite");
        await c.CreateSpaceAsync();
        var body = """{"name": "app", "organization": "alice", "type": "space"}""";
        var (status, _, _) = await Py(c, HttpMethod.Delete, "api/repos/delete", TestCore.Alice, body);
        Assert.True((int)status is >= 200 and < 300, $"delete answered {status}");

        var (again, err, r) = await Py(c, HttpMethod.Delete, "api/repos/delete", TestCore.Alice, body);
        Assert.Equal(HttpStatusCode.NotFound, again);
        Assert.Equal("RepoNotFound", r.Headers.GetValues("X-Error-Code").Single());
        Assert.False(string.IsNullOrWhiteSpace(err.GetProperty("error").GetString()));

        // get_space_runtime on a missing Space: RepositoryNotFoundError as well.
        var (_, _, rt) = await Py(c, HttpMethod.Get, "api/spaces/alice/app/runtime", TestCore.Alice);
        Assert.Equal(HttpStatusCode.NotFound, rt.StatusCode);
        Assert.Equal("RepoNotFound", rt.Headers.GetValues("X-Error-Code").Single());

        // organization null (repo_id without "/"): the caller's namespace.
        await c.CreateSpaceAsync("solo");
        (status, _, _) = await Py(c, HttpMethod.Delete, "api/repos/delete", TestCore.Alice, """{"name": "solo", "organization": null, "type": "space"}""");
        Assert.True((int)status is >= 200 and < 300, $"delete answered {status}");
    }

    /// <summary>hf_api.py HfApi.whoami: GET {endpoint}/api/whoami-v2, returns r.json() as is; callers read me["name"]
    /// (duplicate_space, _get_namespace) and me["type"] == "user" (list_liked_repos). A 401 becomes "Invalid user token."</summary>
    [Fact]
    public async Task WhoamiAsTheClientReadsIt()
    {
        await using var c = await TestCore.StartAsync("sqlite");
        var (status, d, _) = await Py(c, HttpMethod.Get, "api/whoami-v2", TestCore.Alice);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("alice", d.GetProperty("name").GetString());
        Assert.Equal("user", d.GetProperty("type").GetString());

        var (bad, err, _) = await Py(c, HttpMethod.Get, "api/whoami-v2", "hf_not_a_token_0123456789");
        Assert.Equal(HttpStatusCode.Unauthorized, bad);
        Assert.False(string.IsNullOrWhiteSpace(err.GetProperty("error").GetString()));
    }

    /// <summary>utils/_http.py hf_raise_for_status and _format: on 4xx/5xx the message shown is built from header
    /// X-Error-Message and the JSON body's "error" (string or list) / "errors"[].message; a 403 message quotes
    /// X-Error-Message ("403 Forbidden: {error_message}."), a 400 becomes BadRequestError.</summary>
    [Fact]
    public async Task ErrorsCarryWhatHfRaiseForStatusShows()
    {
        await using var c = await TestCore.StartAsync("sqlite");
        await c.CreateSpaceAsync();

        // 403: bob pauses alice's Space.
        var (status, d, r) = await Py(c, HttpMethod.Post, "api/spaces/alice/app/pause", TestCore.Bob);
        Assert.Equal(HttpStatusCode.Forbidden, status);
        var message = d.GetProperty("error").GetString();
        Assert.False(string.IsNullOrWhiteSpace(message));
        Assert.Equal(message, r.Headers.GetValues("X-Error-Message").Single());
        Assert.StartsWith("application/json", r.Content.Headers.ContentType?.MediaType);

        // 400: an unknown flavor.
        (status, d, r) = await Py(c, HttpMethod.Post, "api/spaces/alice/app/hardware", TestCore.Alice, """{"flavor": "h9000-giant"}""");
        Assert.True((int)status is >= 400 and < 500, $"unknown flavor answered {status}");
        Assert.Equal(JsonValueKind.String, d.GetProperty("error").ValueKind);
        Assert.True(r.Headers.Contains("X-Error-Message"));

        // 401: no token at all.
        (status, d, _) = await Py(c, HttpMethod.Get, "api/spaces/alice/app/runtime", null);
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Equal(JsonValueKind.String, d.GetProperty("error").ValueKind);
    }

    /// <summary>api-shapes.md list_spaces_hardware: GET /api/spaces/hardware, a JSON array of hardware objects with
    /// per-minute cost (no such call was found in the hf_api.py pages read; the shape follows api-shapes.md).</summary>
    [Fact]
    public async Task HardwareListHasPerMinuteCost()
    {
        await using var c = await TestCore.StartAsync("sqlite");
        var (status, d, _) = await Py(c, HttpMethod.Get, "api/spaces/hardware", TestCore.Alice);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(JsonValueKind.Array, d.ValueKind);
        var t4 = d.EnumerateArray().Single(h => h.GetProperty("name").GetString() == "t4-small");
        Assert.Equal(10000, t4.GetProperty("unitCostMicroUSD").GetInt64());
        Assert.Equal(0.01m, t4.GetProperty("unitCostUSD").GetDecimal());
        Assert.Equal("minute", t4.GetProperty("unitLabel").GetString());
        foreach (var k in new[] { "prettyName", "cpu", "ram", "ephemeralStorage" }) Assert.Equal(JsonValueKind.String, t4.GetProperty(k).ValueKind);
        Assert.Equal("T4", t4.GetProperty("accelerator").GetProperty("model").GetString());
    }
}
