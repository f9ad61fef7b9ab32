using System.Text.Json;
using GpuRunner.Diagnostics.Checks;

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
/// Runs one of the document's snippets (PyTorch / JAX / TensorFlow) in its own python subprocess with a timeout,
/// and turns the JSON line plus stderr into a check outcome with a named cause and fix.
/// </summary>
public sealed class PythonFrameworkCheck(PythonFramework framework, PythonCheckOptions options) : IPrefetchableCheck
{
    private Task<(string? Python, ProcessOutcome? Outcome)>? _prefetched;

    public string Id => IdOf(framework);
    /// <summary>The driver checks tell whether this host has a GPU (FAIL vs SKIP).</summary>
    public IReadOnlyList<string> Requires => ["cuda.init"];
    public string Title => TitleOf(framework);
    /// <summary>The subprocess has its own timeout; the deadline only backs it up.</summary>
    public TimeSpan Deadline => options.Timeout + TimeSpan.FromSeconds(15);

    public CheckOutcome Run(CheckContext context) => RunAsync(FrameworkChecks.GpuPresent(context, options.GpuPresent)).GetAwaiter().GetResult();

    /// <summary>Starts the subprocess now; <see cref="Run"/> then waits for this one instead of starting its own.</summary>
    public void Prefetch(CancellationToken cancellationToken) => _prefetched ??= Task.Run(() => Execute(cancellationToken), cancellationToken);

    public async Task<CheckOutcome> RunAsync(bool gpuPresent, CancellationToken cancellationToken = default)
    {
        var (python, outcome) = await (_prefetched ?? Execute(cancellationToken));
        if (python is null)
            return options.Python is null
                ? CheckOutcome.Skip("no python3 or python on PATH")
                : CheckOutcome.Fail($"--python {options.Python}: no such file", new Diagnosis("python-not-found",
                    $"the interpreter given with --python ({options.Python}) does not exist", "pass the path of the container's python, e.g. --python $(command -v python3)"));
        return Interpret(framework, outcome!, gpuPresent, python);
    }

    private async Task<(string? Python, ProcessOutcome? Outcome)> Execute(CancellationToken cancellationToken)
    {
        var python = PythonLocator.Find(options.Python);
        if (python is null) return (null, null);
        return (python, await ProcessRunner.RunAsync(python, ["-c", Snippet(framework)], options.Timeout,
            options.Environment, cancellationToken: cancellationToken));
    }

    public static string IdOf(PythonFramework f) => f switch
    {
        PythonFramework.Torch => "python.torch",
        PythonFramework.Jax => "python.jax",
        _ => "python.tensorflow",
    };

    public static string TitleOf(PythonFramework f) => f switch
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
    public static CheckOutcome Interpret(PythonFramework framework, ProcessOutcome outcome, bool gpuPresent, string python = "python3")
    {
        var module = Module(framework);
        var known = PythonFailureModes.Match(outcome.StdErr);

        if (!outcome.Started)
            return CheckOutcome.Fail(FirstLine(outcome.StdErr), new("python-cannot-start", $"{python} cannot be started", "pass a working interpreter with --python PATH"));
        if (outcome.TimedOut)
            return CheckOutcome.Fail($"{module} snippet did not finish within {outcome.Seconds:0}s (process tree killed)",
                known ?? new("python-snippet-hung", $"importing {module} or initialising CUDA hung", $"run `{python} -c 'import {module}'` by hand; a hung CUDA init usually means a wedged GPU or driver (check nvidia-smi)"));

        var json = ParseResultLine(outcome.StdOut);
        if (json is null)
            return CheckOutcome.Fail($"{module} snippet exited {outcome.ExitCode} without a result: {LastLine(outcome.StdErr)}",
                known ?? new("python-import-crash", $"the {module} import crashed before reporting", $"run `{python} -c 'import {module}'` to see the full error"));

        var root = json.Value;
        if (!Bool(root, "installed"))
            return CheckOutcome.Skip($"{module} is not installed in {python}");

        var errors = root.TryGetProperty("errors", out var e) && e.ValueKind == JsonValueKind.Array
            ? string.Join("; ", e.EnumerateArray().Select(x => x.GetString())) : "";
        known ??= PythonFailureModes.Match(errors);
        var version = Str(root, "version") ?? "?";
        return framework switch
        {
            PythonFramework.Torch => Torch(root, version, errors, known, gpuPresent),
            PythonFramework.Jax => Jax(root, version, errors, known, gpuPresent),
            _ => TensorFlow(root, version, errors, known, gpuPresent),
        };
    }

    /// <summary>Works (PASS, or WARN when a known failure text showed up anyway), or the diagnosis, or SKIP without a GPU.</summary>
    private static CheckOutcome Decide(bool ok, string evidence, Diagnosis? known, Diagnosis? fallback, bool gpu, params string?[] skippableWithoutGpu)
    {
        if (ok) return known is null ? CheckOutcome.Pass(evidence) : CheckOutcome.Warn(evidence, known);
        var diagnosis = known ?? fallback;
        if (!gpu && (diagnosis is null || skippableWithoutGpu.Contains(diagnosis.Name)))
            return CheckOutcome.Skip($"no NVIDIA GPU on this host; {evidence}");
        return CheckOutcome.Fail(evidence, diagnosis ?? new("framework-sees-no-gpu", "the framework sees no GPU and printed no known failure text",
            "check nvidia-smi and CUDA_VISIBLE_DEVICES, then run gpurunner verify (the native checks say whether the driver works)"));
    }

    private static CheckOutcome Torch(JsonElement r, string version, string errors, Diagnosis? known, bool gpu)
    {
        var cuda = Str(r, "cuda");
        var count = Int(r, "count");
        var name = Str(r, "deviceName");
        var build = cuda is null ? "CPU-only build" : $"CUDA {cuda}";
        var ok = Bool(r, "available") && count > 0 && name is not null && Bool(r, "tensorOk");
        var evidence = ok
            ? $"torch {version} ({build}): {count} device(s), {name}, tensor .to(\"cuda\") OK"
            : $"torch {version} ({build}): cuda.is_available()={Bool(r, "available")}, device_count={count?.ToString() ?? "?"}" + (errors.Length > 0 ? $"; {errors}" : "");
        return Decide(ok, evidence, known, cuda is null ? PythonFailureModes.TorchCpuWheelDiagnosis : null, gpu, "torch-cpu-wheel", "no-nvidia-driver");
    }

    private static CheckOutcome Jax(JsonElement r, string version, string errors, Diagnosis? known, bool gpu)
    {
        var platform = Str(r, "platform");
        var kind = Str(r, "deviceKind");
        var devices = Strings(r, "devices");
        var evidence = $"jax {version}: devices() = [{string.Join(", ", devices)}], device_kind {kind ?? "?"}" + (errors.Length > 0 ? $"; {errors}" : "");
        return Decide(platform is "gpu" or "cuda" or "rocm", evidence, known, platform == "cpu"
            ? new Diagnosis("jaxlib-cpu", "JAX runs on the CPU: no CUDA plugin is installed or it found no GPU",
                "pip install -U \"jax[cuda12]\" (or \"jax[cuda13]\" for a CUDA 13 driver)") : null, gpu, "jaxlib-cpu");
    }

    private static CheckOutcome TensorFlow(JsonElement r, string version, string errors, Diagnosis? known, bool gpu)
    {
        var devices = Strings(r, "devices");
        var cuda = Str(r, "cuda");
        var evidence = $"tensorflow {version} ({(cuda is null ? "no CUDA in build info" : "CUDA " + cuda)}): list_physical_devices('GPU') = [{string.Join(", ", devices)}]"
                       + (errors.Length > 0 ? $"; {errors}" : "");
        return Decide(devices.Count > 0, evidence, known, cuda is null
            ? new Diagnosis("tf-cpu-build", "a CPU-only TensorFlow is installed", "pip install tensorflow[and-cuda]") : null, gpu, "tf-cpu-build");
    }

    private static List<string> Strings(JsonElement r, string name) =>
        r.TryGetProperty(name, out var d) && d.ValueKind == JsonValueKind.Array ? [.. d.EnumerateArray().Select(x => x.GetString() ?? "")] : [];

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
