using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

using GpuRunner.Diagnostics.Checks;

namespace GpuRunner.Diagnostics.Frameworks;

/// <summary>Where to look for libtorch; each source is tried in this order.</summary>
public sealed record LibTorchOptions
{
    /// <summary>--libtorch DIR (falls back to $GPURUNNER_LIBTORCH).</summary>
    public string? LibTorchDir { get; init; }
    /// <summary>Python to ask for its torch/lib (--python, else python3/python on PATH); false to skip asking.</summary>
    public string? Python { get; init; }
    public bool AskPython { get; init; } = true;
    /// <summary>Folders searched for libLibTorchSharp.so and a TorchSharp-cpu/cuda backend package's libtorch.</summary>
    public IReadOnlyList<string>? AppDirectories { get; init; }
    public TimeSpan PythonTimeout { get; init; } = TimeSpan.FromSeconds(30);
}

/// <summary>What the loader did: success, or the real cause, plus the trace of where it looked.</summary>
public sealed record LibTorchLoad(bool Loaded, string? LibTorchDir, string? Source, bool HasCuda, Diagnosis? Diagnosis,
    IReadOnlyList<string> Trace, string? LibTorchSharpPath);

/// <summary>
/// Loads a libtorch for TorchSharp before TorchSharp touches it, so the failure (if any) is the dynamic loader's
/// own words, not TorchSharp's misleading "libtorch-cpu-linux-x64 ... is not restored".
/// Order: libc10, libtorch_cpu, libc10_cuda, libtorch_cuda, libtorch, then libLibTorchSharp (measured on the H200).
/// </summary>
public static partial class TorchSharpLoader
{
    private static readonly string[] CoreOrder = ["libc10.so", "libtorch_cpu.so", "libc10_cuda.so", "libtorch_cuda.so", "libtorch.so"];
    private static readonly string[] CudaParts = ["libc10_cuda.so", "libtorch_cuda.so"];
    private static LibTorchLoad? _loaded;
    private static readonly Lock Gate = new();

    /// <summary>Loads once per process (native libraries cannot be unloaded reliably); later calls return the first result.</summary>
    public static async Task<LibTorchLoad> EnsureLoadedAsync(LibTorchOptions options, CancellationToken ct = default)
    {
        lock (Gate) if (_loaded is { Loaded: true }) return _loaded;
        var result = await LoadAsync(options, ct);
        lock (Gate) if (result.Loaded) _loaded = result;
        return result;
    }

    public static async Task<LibTorchLoad> LoadAsync(LibTorchOptions options, CancellationToken ct = default)
    {
        var trace = new List<string>();
        if (!RuntimeCanHostTorchSharp)
            return new(false, null, null, false, NeedsJitBuild, ["NativeAOT build: TorchSharp not available"], null);
        var appDirs = options.AppDirectories ?? DefaultAppDirectories();
        var (dir, source) = await FindLibTorchAsync(options, appDirs, trace, ct);
        if (dir is null)
            return new(false, null, null, false, new Diagnosis("libtorch-not-found", 
                "no libtorch found: " + string.Join("; ", trace),
                "install a CUDA PyTorch in the container's python (pip install torch), or pass --libtorch DIR / set GPURUNNER_LIBTORCH to a libtorch/lib folder"), trace, null);

        var hasCuda = CudaParts.All(p => File.Exists(Path.Combine(dir, p)));
        foreach (var name in CoreOrder)
        {
            var path = Path.Combine(dir, name);
            if (!File.Exists(path))
            {
                if (CudaParts.Contains(name)) { trace.Add($"{name}: absent (CPU-only libtorch)"); continue; }
                trace.Add($"{path}: absent");
                return new(false, dir, source, hasCuda, new Diagnosis("libtorch-incomplete", $"{dir} is not a complete libtorch: {name} is missing",
                    "point --libtorch at the lib folder of a full libtorch or PyTorch install"), trace, null);
            }
            if (!TryLoad(path, trace, out var error))
                return new(false, dir, source, hasCuda, Explain(error!, path), trace, null);
        }

        var torchSharp = FindLibTorchSharp(appDirs, dir);
        if (torchSharp is null)
        {
            trace.Add($"libLibTorchSharp.so: not found in {string.Join(", ", appDirs.Append(dir))}");
            return new(false, dir, source, hasCuda, new Diagnosis("libtorchsharp-missing", "libLibTorchSharp.so (TorchSharp's native half) is not beside the application",
                "publish with the TorchSharp package so runtimes/linux-x64/native/libLibTorchSharp.so is copied next to gpurunner"), trace, null);
        }
        if (!TryLoad(torchSharp, trace, out var tsError))
            return new(false, dir, source, hasCuda, Explain(tsError!, torchSharp), trace, torchSharp);
        return new(true, dir, source, hasCuda, null, trace, torchSharp);
    }

    private static bool TryLoad(string path, List<string> trace, out string? error)
    {
        try
        {
            NativeLibrary.Load(path);
            trace.Add($"{path}: loaded");
            error = null;
            return true;
        }
        catch (Exception e) when (e is DllNotFoundException or BadImageFormatException)
        {
            error = CudaLibraryProbe.DlError(e.Message, path);
            trace.Add($"{path}: {error}");
            return false;
        }
    }

    private static async Task<(string? Dir, string? Source)> FindLibTorchAsync(LibTorchOptions options, IReadOnlyList<string> appDirs,
        List<string> trace, CancellationToken ct)
    {
        var explicitDir = options.LibTorchDir;
        var source = "--libtorch";
        if (string.IsNullOrEmpty(explicitDir) && Environment.GetEnvironmentVariable("GPURUNNER_LIBTORCH") is { Length: > 0 } env)
        {
            explicitDir = env;
            source = "GPURUNNER_LIBTORCH";
        }
        if (!string.IsNullOrEmpty(explicitDir))
        {
            var d = NormaliseLibDir(explicitDir);
            if (d is not null) { trace.Add($"{source} {explicitDir}: libtorch found"); return (d, source); }
            trace.Add($"{source} {explicitDir}: no libtorch.so there (nor in its lib/)");
        }
        else trace.Add("--libtorch / GPURUNNER_LIBTORCH: not set");

        if (options.AskPython)
        {
            var python = PythonLocator.Find(options.Python);
            if (python is null) trace.Add("python: none on PATH");
            else
            {
                var outcome = await ProcessRunner.RunAsync(python, ["-c", PythonSnippets.TorchLibDir], options.PythonTimeout, cancellationToken: ct);
                var json = PythonFrameworkCheck.ParseResultLine(outcome.StdOut);
                var libDir = json is { } j && j.TryGetProperty("libDir", out var p) ? p.GetString() : null;
                if (outcome.TimedOut) trace.Add($"{python}: timed out asking for torch");
                else if (libDir is null) trace.Add($"{python}: torch not installed");
                else if (NormaliseLibDir(libDir) is { } d) { trace.Add($"{python}: torch/lib at {d}"); return (d, $"python torch ({python})"); }
                else trace.Add($"{python}: {libDir} has no libtorch.so");
            }
        }

        foreach (var app in appDirs)
        {
            if (NormaliseLibDir(app) is { } d) { trace.Add($"{app}: TorchSharp backend libtorch found"); return (d, "TorchSharp backend package"); }
        }
        trace.Add($"beside the app ({string.Join(", ", appDirs)}): no libtorch.so (no TorchSharp-cpu/cuda backend package)");
        return (null, null);
    }

    private static string? NormaliseLibDir(string dir)
    {
        foreach (var d in new[] { dir, Path.Combine(dir, "lib") })
            if (File.Exists(Path.Combine(d, "libtorch.so"))) return Path.GetFullPath(d);
        return null;
    }

    private static string? FindLibTorchSharp(IEnumerable<string> appDirs, string libTorchDir) =>
        appDirs.Append(libTorchDir).Select(d => Path.Combine(d, "libLibTorchSharp.so")).FirstOrDefault(File.Exists);

    public static IReadOnlyList<string> DefaultAppDirectories()
    {
        var b = AppContext.BaseDirectory;
        return [b, Path.Combine(b, "runtimes", "linux-x64", "native")];
    }

    /// <summary>The real cause of a failed dlopen (pure: tests feed it recorded dlerror texts).</summary>
    public static Diagnosis Explain(string dlerror, string library, string? systemLibStdCxx = null, IReadOnlyList<Version>? provided = null)
    {
        var glibcxx = GlibcxxMissing().Match(dlerror);
        if (glibcxx.Success)
        {
            var needed = glibcxx.Groups["v"].Value;
            var std = systemLibStdCxx ?? LibStdCxx.SystemLibrary() ?? "libstdc++.so.6";
            var have = provided ?? LibStdCxx.Versions(std);
            var highest = have.Count > 0 ? $"only up to {LibStdCxx.Format(have[^1])}" : "an older set of versions";
            var who = glibcxx.Groups["by"].Success ? Path.GetFileName(glibcxx.Groups["by"].Value) : Path.GetFileName(library);
            return new Diagnosis("glibcxx-too-old", 
                $"{who} needs GLIBCXX_{needed} but the system libstdc++ ({std}) has {highest} (TorchSharp's own \"not restored\" message is wrong)",
                "run on a newer base image (Ubuntu 24.04 / Debian 13 ship GLIBCXX_3.4.32+), or start gpurunner with a newer libstdc++.so.6 first on LD_LIBRARY_PATH");
        }
        var undefined = UndefinedSymbol().Match(dlerror);
        if (undefined.Success)
            return new Diagnosis("libtorch-symbol-missing", 
                $"{Path.GetFileName(library)} and the libtorch it found disagree: undefined symbol {undefined.Groups["s"].Value}",
                "use a libtorch/PyTorch whose version matches TorchSharp 0.107 (libtorch 2.10; PyTorch 2.11 was measured to work), or a TorchSharp built for your torch");
        var missing = CannotOpen().Match(dlerror);
        if (missing.Success)
            return new Diagnosis("libtorch-dependency-missing", $"{Path.GetFileName(library)} needs {missing.Groups["lib"].Value}, which the loader cannot find",
                $"install the package that provides {missing.Groups["lib"].Value} (for a pip torch: the matching nvidia-* wheels), or add its folder to LD_LIBRARY_PATH");
        return new Diagnosis("libtorch-load-error", $"{Path.GetFileName(library)} cannot be loaded: {dlerror}",
            "run `ldd -r` on it to see what the loader is missing");
    }

    /// <summary>TorchSharp's managed binding needs the JIT runtime; the NativeAOT gpurunner cannot host it.</summary>
    public static bool RuntimeCanHostTorchSharp => System.Runtime.CompilerServices.RuntimeFeature.IsDynamicCodeSupported;

    public static readonly Diagnosis NeedsJitBuild = new("torchsharp-needs-jit-build",
        "this gpurunner is the NativeAOT build, which cannot host TorchSharp's managed binding",
        "use the JIT build of gpurunner (bench/gpu/publish.sh puts it in .device/jit/) for the torch checks and --engine torch");

    public static readonly Diagnosis CpuOnly = new("libtorch-cpu-only",
        "the libtorch found is a CPU-only build (no libtorch_cuda.so / libc10_cuda.so), so TorchSharp cannot use the GPU",
        "install a CUDA PyTorch (pip install torch --index-url https://download.pytorch.org/whl/cu130) or pass --libtorch to a CUDA libtorch");

    // version `GLIBCXX_3.4.32' not found (required by /x/libLibTorchSharp.so)
    [GeneratedRegex(@"version [`']GLIBCXX_(?<v>[\d.]+)' not found(?: \(required by (?<by>[^)]+)\))?")] private static partial Regex GlibcxxMissing();
    [GeneratedRegex(@"undefined symbol: (?<s>\S+)")] private static partial Regex UndefinedSymbol();
    [GeneratedRegex(@"(?<lib>[\w.+-]+\.so[\w.]*): cannot open shared object file")] private static partial Regex CannotOpen();
}
