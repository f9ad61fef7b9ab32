using System.Text.Json;

namespace GpuRunner.Diagnostics.Frameworks;

public enum PythonFramework { Torch, Jax, TensorFlow }

/// <summary>Options shared by the Python framework checks.</summary>
public sealed record PythonCheckOptions
{
    /// <summary>--python PATH; null = python3, then python, on PATH.</summary>
    public string? Python { get; init; }
    /// <summary>Per snippet. Importing torch takes 5–7 s on a cold H200 container, so leave headroom.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(90);
    /// <summary>Whether the host shows a GPU; decides between FAIL and SKIP when a framework sees none.</summary>
    public bool? GpuPresent { get; init; }
    /// <summary>Extra environment for the child (tests put a fake module on PYTHONPATH).</summary>
    public IReadOnlyDictionary<string, string?>? Environment { get; init; }
}

/// <summary>
/// Runs the document's PyTorch / JAX / TensorFlow snippets, each in its own python subprocess with a timeout,
/// and turns the JSON line plus stderr into a check result with a named cause and fix.
/// </summary>
public sealed class PythonFrameworkCheck(PythonCheckOptions options) : IFrameworkCheck
{
    public string Group => "python";

    public async Task<IReadOnlyList<FrameworkCheckResult>> RunAsync(CancellationToken cancellationToken)
    {
        var python = PythonLocator.Find(options.Python);
        if (python is null)
        {
            var why = options.Python is null ? "no python3 or python on PATH" : $"--python {options.Python}: no such file";
            return [.. Enum.GetValues<PythonFramework>().Select(f =>
                new FrameworkCheckResult(Id(f), Title(f), options.Python is null ? CheckStatus.Skip : CheckStatus.Fail, why, null))];
        }
        var gpu = options.GpuPresent ?? GpuPresence.Probe();
        var results = new List<FrameworkCheckResult>();
        foreach (var framework in Enum.GetValues<PythonFramework>())
        {
            var outcome = await ProcessRunner.RunAsync(python, ["-c", Snippet(framework)], options.Timeout,
                options.Environment, cancellationToken: cancellationToken);
            results.Add(Interpret(framework, outcome, gpu, python));
        }
        return results;
    }

    public static string Id(PythonFramework f) => f switch
    {
        PythonFramework.Torch => "python.torch",
        PythonFramework.Jax => "python.jax",
        _ => "python.tensorflow",
    };

    public static string Title(PythonFramework f) => f switch
    {
        PythonFramework.Torch => "PyTorch (Python) sees the GPU",
        PythonFramework.Jax => "JAX (Python) sees the GPU",
        _ => "TensorFlow (Python) sees the GPU",
    };

    private static string Module(PythonFramework f) => f switch
    {
        PythonFramework.Torch => "torch",
        PythonFramework.Jax => "jax",
        _ => "tensorflow",
    };

    public static string Snippet(PythonFramework f) => f switch
    {
        PythonFramework.Torch => PythonSnippets.Torch,
        PythonFramework.Jax => PythonSnippets.Jax,
        _ => PythonSnippets.TensorFlow,
    };

    /// <summary>Pure: what one snippet run means. Tests feed it recorded outputs.</summary>
    public static FrameworkCheckResult Interpret(PythonFramework framework, ProcessOutcome outcome, bool gpuPresent, string python = "python3")
    {
        var id = Id(framework);
        var title = Title(framework);
        var module = Module(framework);
        var known = PythonFailureModes.Match(outcome.StdErr);
        FrameworkCheckResult Make(CheckStatus s, string evidence, Diagnosis? d, Dictionary<string, string?>? facts = null) =>
            new(id, title, s, evidence, d) { Seconds = outcome.Seconds, Facts = facts ?? new() };

        if (!outcome.Started)
            return Make(CheckStatus.Fail, FirstLine(outcome.StdErr), new($"{python} cannot be started", "pass a working interpreter with --python PATH"));
        if (outcome.TimedOut)
            return Make(CheckStatus.Fail, $"{module} snippet did not finish within {outcome.Seconds:0}s (process tree killed)",
                known ?? new($"importing {module} or initialising CUDA hung", $"run `{python} -c 'import {module}'` by hand; a hung CUDA init usually means a wedged GPU or driver (check nvidia-smi)"));

        var json = ParseResultLine(outcome.StdOut);
        if (json is null)
            return Make(CheckStatus.Fail, $"{module} snippet exited {outcome.ExitCode} without a result: {LastLine(outcome.StdErr)}",
                known ?? new($"the {module} import crashed before reporting", $"run `{python} -c 'import {module}'` to see the full error"));

        var root = json.Value;
        if (!Bool(root, "installed"))
            return Make(CheckStatus.Skip, $"{module} is not installed in {python}", null);

        var errors = root.TryGetProperty("errors", out var e) && e.ValueKind == JsonValueKind.Array
            ? string.Join("; ", e.EnumerateArray().Select(x => x.GetString())) : "";
        known ??= PythonFailureModes.Match(errors);
        var version = Str(root, "version") ?? "?";
        return framework switch
        {
            PythonFramework.Torch => Torch(root, version, errors, known, gpuPresent, Make),
            PythonFramework.Jax => Jax(root, version, errors, known, gpuPresent, Make),
            _ => TensorFlow(root, version, errors, known, gpuPresent, Make),
        };
    }

    private static FrameworkCheckResult Torch(JsonElement r, string version, string errors, Diagnosis? known, bool gpu,
        Func<CheckStatus, string, Diagnosis?, Dictionary<string, string?>?, FrameworkCheckResult> make)
    {
        var cuda = Str(r, "cuda");
        var count = Int(r, "count");
        var name = Str(r, "deviceName");
        var facts = new Dictionary<string, string?>
        {
            ["version"] = version, ["cuda"] = cuda, ["available"] = Bool(r, "available").ToString().ToLowerInvariant(),
            ["deviceCount"] = count?.ToString(), ["deviceName"] = name,
        };
        var build = cuda is null ? "CPU-only build" : $"CUDA {cuda}";
        var ok = Bool(r, "available") && count > 0 && name is not null && Bool(r, "tensorOk");
        if (ok)
            return make(known is null ? CheckStatus.Pass : CheckStatus.Warn,
                $"torch {version} ({build}): {count} device(s), {name}, tensor .to(\"cuda\") OK", known, facts);

        var evidence = $"torch {version} ({build}): cuda.is_available()={Bool(r, "available")}, device_count={count?.ToString() ?? "?"}"
                       + (errors.Length > 0 ? $"; {errors}" : "");
        var diagnosis = known ?? (cuda is null ? PythonFailureModes.TorchCpuWheelDiagnosis : null);
        if (!gpu && diagnosis?.Code is null or "torch-cpu-wheel" or "no-nvidia-driver")
            return make(CheckStatus.Skip, $"no NVIDIA GPU on this host; {evidence}", null, facts);
        return make(CheckStatus.Fail, evidence, diagnosis ?? new(
            "PyTorch sees no usable CUDA device and printed no known failure text",
            "check nvidia-smi and CUDA_VISIBLE_DEVICES, then run gpurunner verify --only driver"), facts);
    }

    private static FrameworkCheckResult Jax(JsonElement r, string version, string errors, Diagnosis? known, bool gpu,
        Func<CheckStatus, string, Diagnosis?, Dictionary<string, string?>?, FrameworkCheckResult> make)
    {
        var platform = Str(r, "platform");
        var kind = Str(r, "deviceKind");
        var devices = r.TryGetProperty("devices", out var d) && d.ValueKind == JsonValueKind.Array
            ? d.EnumerateArray().Select(x => x.GetString() ?? "").ToList() : [];
        var facts = new Dictionary<string, string?>
        {
            ["version"] = version, ["platform"] = platform, ["deviceKind"] = kind, ["devices"] = string.Join(",", devices),
        };
        var evidence = $"jax {version}: devices() = [{string.Join(", ", devices)}], device_kind {kind ?? "?"}"
                       + (errors.Length > 0 ? $"; {errors}" : "");
        if (platform is "gpu" or "cuda" or "rocm")
            return make(known is null ? CheckStatus.Pass : CheckStatus.Warn, evidence, known, facts);
        var diagnosis = known ?? (platform == "cpu" ? new Diagnosis(
            "JAX runs on the CPU: no CUDA plugin is installed or it found no GPU",
            "pip install -U \"jax[cuda12]\" (or \"jax[cuda13]\" for a CUDA 13 driver)") { Code = "jaxlib-cpu" } : null);
        if (!gpu && diagnosis?.Code is null or "jaxlib-cpu")
            return make(CheckStatus.Skip, $"no NVIDIA GPU on this host; {evidence}", null, facts);
        return make(CheckStatus.Fail, evidence, diagnosis ?? new("JAX reports no GPU device", "check nvidia-smi and CUDA_VISIBLE_DEVICES"), facts);
    }

    private static FrameworkCheckResult TensorFlow(JsonElement r, string version, string errors, Diagnosis? known, bool gpu,
        Func<CheckStatus, string, Diagnosis?, Dictionary<string, string?>?, FrameworkCheckResult> make)
    {
        var devices = r.TryGetProperty("devices", out var d) && d.ValueKind == JsonValueKind.Array
            ? d.EnumerateArray().Select(x => x.GetString() ?? "").ToList() : [];
        var cuda = Str(r, "cuda");
        var facts = new Dictionary<string, string?> { ["version"] = version, ["cuda"] = cuda, ["devices"] = string.Join(",", devices) };
        var evidence = $"tensorflow {version} ({(cuda is null ? "no CUDA in build info" : "CUDA " + cuda)}): list_physical_devices('GPU') = [{string.Join(", ", devices)}]"
                       + (errors.Length > 0 ? $"; {errors}" : "");
        if (devices.Count > 0)
            return make(known is null ? CheckStatus.Pass : CheckStatus.Warn, evidence, known, facts);
        var diagnosis = known ?? (cuda is null ? new Diagnosis("a CPU-only TensorFlow is installed",
            "pip install tensorflow[and-cuda]") { Code = "tf-cpu-build" } : null);
        if (!gpu && diagnosis?.Code is null or "tf-cpu-build")
            return make(CheckStatus.Skip, $"no NVIDIA GPU on this host; {evidence}", null, facts);
        return make(CheckStatus.Fail, evidence, diagnosis ?? new("TensorFlow lists no GPU and printed no known failure text",
            "run with TF_CPP_MIN_LOG_LEVEL=0 to see which library it could not load"), facts);
    }

    /// <summary>The JSON of the last line that starts with the marker (frameworks may print to stdout too).</summary>
    public static JsonElement? ParseResultLine(string stdout)
    {
        foreach (var line in stdout.Split('\n').Reverse())
        {
            if (!line.StartsWith(PythonSnippets.Marker, StringComparison.Ordinal)) continue;
            try
            {
                using var doc = JsonDocument.Parse(line[PythonSnippets.Marker.Length..]);
                return doc.RootElement.Clone();
            }
            catch (JsonException) { return null; }
        }
        return null;
    }

    private static string? Str(JsonElement r, string name) =>
        r.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
    private static bool Bool(JsonElement r, string name) =>
        r.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.True;
    private static int? Int(JsonElement r, string name) =>
        r.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt32() : null;

    private static string FirstLine(string s) => s.Split('\n', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault()?.Trim() ?? "";
    internal static string LastLine(string s) =>
        s.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault()?.Trim() is { Length: > 0 } l ? l : "(no stderr)";
}
