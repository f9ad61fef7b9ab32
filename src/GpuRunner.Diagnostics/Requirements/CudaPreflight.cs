using System.Text.RegularExpressions;
using GpuRunner.Diagnostics.Catalogue;

namespace GpuRunner.Diagnostics.Requirements;

/// <summary>
/// Decides, before deployment, whether the CUDA builds a requirements file pins can run on a driver of a given
/// CUDA version. Pure: the parsed file, the driver's CUDA version and the two tables in; a report out.
/// Policy (README, "Requirements preflight"): a build for a newer CUDA major than the driver FAILs; a newer minor of
/// the same major (11.1+) is a WARN, since it runs through CUDA minor-version compatibility; a CPU-only build of a
/// GPU framework FAILs; a CUDA tag that names no CUDA release FAILs; a version our table does not know is a WARN.
/// </summary>
public sealed partial class CudaPreflight(CudaDriverTable cuda, WheelTable wheels)
{
    private static readonly HashSet<string> TorchFamily = ["torch", "torchvision", "torchaudio"];
    private static readonly HashSet<string> TensorflowFamily = ["tensorflow", "tensorflow-gpu", "tensorflow-cpu"];
    // nvidia-* wheels whose version is the CUDA toolkit's (nvidia-cuda-runtime-cu12==12.4.127 is CUDA 12.4).
    private static readonly HashSet<string> ToolkitVersioned = ["cuda-runtime", "cuda-nvrtc", "cuda-cupti", "cublas", "nvjitlink", "cuda-nvcc"];
    // The first CUDA with kernels for every GPU in the catalogue up to Hopper (sm_90): a pinned release built for
    // at least this is kept in a suggestion; older builds give way to one of the driver's own CUDA major.
    private static readonly CudaVersion Hopper = new(11, 8);
    private const string PytorchIndex = "https://download.pytorch.org/whl/";
    private const string JaxReleases = "https://storage.googleapis.com/jax-releases/jax_cuda_releases.html";

    public static CudaPreflight Default() => new(CudaDriverTable.LoadDefault(), WheelTable.LoadDefault());

    public PreflightReport Check(ParsedRequirements parsed, CudaVersion driver, string file, string driverSource)
    {
        var ctx = new Context(parsed, driver);
        var items = new List<PreflightItem>();
        var others = 0;
        foreach (var e in parsed.Requirements)
        {
            var item = Analyze(e, ctx);
            if (item is null) { others++; continue; }
            if (e.MarkerApplies == false)
                item = item with { Status = PreflightStatus.Skip, Message = $"not installed on Linux x86_64 (marker: {e.Marker})", InsteadUse = [] };
            items.Add(item);
        }
        var verdict = items.Any(i => i.Status == PreflightStatus.Fail) ? "FAIL"
            : items.Any(i => i.Status == PreflightStatus.Warn) ? "WARN" : "PASS";
        return new PreflightReport
        {
            File = file, DriverCuda = driver.ToString(), DriverSource = driverSource, Items = items,
            OtherRequirements = others, Notes = parsed.Notes, Verdict = verdict,
        };
    }

    private sealed class Context(ParsedRequirements parsed, CudaVersion driver)
    {
        public ParsedRequirements Parsed { get; } = parsed;
        public CudaVersion Driver { get; } = driver;
        public PipOptions Options => Parsed.Options;
        public bool Has(Func<RequirementEntry, bool> test) => Parsed.Requirements.Any(test);
    }

    private PreflightItem? Analyze(RequirementEntry e, Context ctx)
    {
        if (TorchFamily.Contains(e.Name)) return Torch(e, ctx);
        if (TensorflowFamily.Contains(e.Name)) return Tensorflow(e, ctx);
        if (e.Name is "jax" or "jaxlib" || JaxPlugin().IsMatch(e.Name)) return Jax(e, ctx);
        if (e.Name is "onnxruntime" or "onnxruntime-gpu") return Onnxruntime(e, ctx);
        if (e.Name.StartsWith("nvidia-", StringComparison.Ordinal)) return Nvidia(e, ctx);
        if (e.Name.StartsWith("cupy", StringComparison.Ordinal)) return Cupy(e, ctx);
        return null;
    }

    // ---- verdict against the driver ------------------------------------------------------------------------

    private string RequiredDriver(CudaVersion v, bool majorOnly)
    {
        var major = cuda.FindMajor(v.Major);
        if (majorOnly)
            return major?.MinorCompatDriver is { } floor ? $"driver >= {floor} (any CUDA {v.Major}.x driver)" : $"a CUDA {v.Major}.x driver";
        var release = cuda.Find(v);
        var text = release is not null ? $"driver >= {release.MinDriver}" : $"CUDA {v} is not in the driver table";
        if (major?.MinorCompatDriver is { } compat && v >= new CudaVersion(11, 1) && release?.MinDriver != compat)
            text += $" (>= {compat} through minor-version compatibility)";
        return text;
    }

    private static string Show(CudaVersion v, bool majorOnly) => majorOnly ? $"{v.Major}.x" : v.ToString();

    private (PreflightStatus, string) Against(CudaVersion v, bool majorOnly, CudaVersion driver)
    {
        var shown = Show(v, majorOnly);
        if (v.Major > driver.Major)
            return (PreflightStatus.Fail, $"built for CUDA {shown}, newer than this driver (CUDA {driver}): CUDA cannot start (\"the NVIDIA driver on your system is too old\")");
        if (v.Major < driver.Major || majorOnly || v <= driver)
            return (PreflightStatus.Ok, $"built for CUDA {shown}; a CUDA {driver} driver runs it");
        if (cuda.FindMajor(v.Major)?.MinorCompatDriver is not null && v >= new CudaVersion(11, 1))
            return (PreflightStatus.Warn, $"built for CUDA {v}, newer than this driver (CUDA {driver}): runs through CUDA minor-version compatibility, but code shipped only as PTX for {v} cannot be JIT-compiled");
        return (PreflightStatus.Fail, $"built for CUDA {v}, newer than this driver (CUDA {driver}), and CUDA {v.Major}.x has no minor-version compatibility");
    }

    private bool Runs(CudaVersion v, bool majorOnly, CudaVersion driver) => Against(v, majorOnly, driver).Item1 != PreflightStatus.Fail;

    private PreflightItem Item(RequirementEntry e, PreflightStatus status, string message, string? build = null, string? required = null,
        IReadOnlyList<string>? instead = null) => new()
    {
        File = e.File, Line = e.Line, Requirement = e.Text, Package = e.Name, Status = status, Build = build,
        RequiredDriver = required, Message = message, InsteadUse = instead ?? [],
    };

    private static PreflightStatus Worst(PreflightStatus a, PreflightStatus b) => (PreflightStatus)Math.Max((int)a, (int)b);

    // ---- PyTorch ---------------------------------------------------------------------------------------------

    /// <summary>A torch local tag: "cu113" → 11.3, "cu92" → 9.2, "cu130" → 13.0; null when it names no CUDA release.</summary>
    private CudaVersion? CuTag(string tag)
    {
        var m = CuTagPattern().Match(tag);
        if (!m.Success) return null;
        var digits = m.Groups[1].Value;
        var v = new CudaVersion(int.Parse(digits[..^1]), digits[^1] - '0');
        return cuda.Find(v) is not null || v.Major is 8 or 9 ? v : null;
    }

    private static string? PytorchTag(string url)
    {
        var m = PytorchIndexTag().Match(url);
        return m.Success ? m.Groups[1].Value.ToLowerInvariant() : null;
    }

    private PreflightItem Torch(RequirementEntry e, Context ctx)
    {
        var torchVersion = e.Name == "torch" ? e.PinnedVersion : TorchVersionOf(e.Name, e.PinnedVersion);
        var release = wheels.Torch(torchVersion);
        string? tag = e.Local;
        string how = tag is not null ? $"+{tag}" : "";
        var notes = new List<string>();
        var status = PreflightStatus.Ok;
        string? meantTag = null;

        if (tag is null && e.Url is not null && PytorchTag(e.Url) is { } urlTag) { tag = urlTag; how = $"from {e.Url}"; }
        if (tag is null)
        {
            var primary = ctx.Options.IndexUrl is { } i ? PytorchTag(i) : null;
            var extra = ctx.Options.ExtraIndexUrls.Concat(ctx.Options.FindLinks).Select(u => (Url: u, Tag: PytorchTag(u)))
                .FirstOrDefault(x => x.Tag is not null);
            if (primary is not null) { tag = primary; how = $"from --index-url {ctx.Options.IndexUrl}"; }
            else if (extra.Tag is not null)
            {
                meantTag = extra.Tag;
                if (e.PinnedVersion is null)
                {
                    // pip takes the highest version on any index: PyPI's newest torch outranks every old cuXYZ build.
                    status = PreflightStatus.Warn;
                    notes.Add($"unpinned, so pip takes the newest {e.Name} on any index (PyPI's), not the {extra.Tag} build of {extra.Url}");
                }
                else if (release is not null && !release.IndexTags.Contains(extra.Tag) && extra.Tag != "cpu")
                {
                    status = PreflightStatus.Warn;
                    notes.Add($"torch {release.Version} has no {extra.Tag} build, so pip takes PyPI's");
                }
                else { tag = extra.Tag; how = $"from {extra.Url} (a pinned release takes the index's local build, which sorts higher)"; }
            }
        }

        CudaVersion? built;
        string buildText;
        if (tag is not null)
        {
            if (tag == "cpu" || tag.StartsWith("rocm", StringComparison.Ordinal))
            {
                var kind = tag == "cpu" ? "CPU-only" : $"ROCm (AMD) build {tag}";
                return Item(e, PreflightStatus.Fail, $"{kind}: torch.cuda.is_available() is False on this GPU (\"Torch not compiled with CUDA enabled\")",
                    $"{kind} ({how})", null, TorchInstead(e, torchVersion, ctx.Driver));
            }
            built = CuTag(tag);
            if (built is null)
                return Item(e, PreflightStatus.Fail, $"unknown CUDA tag '{tag}': it names no CUDA release in the driver table", $"unknown ({how})", null,
                    TorchInstead(e, torchVersion, ctx.Driver));
            if (release is not null && !release.IndexTags.Contains(tag) && release.PypiCuda != built.ToString())
                return Item(e, PreflightStatus.Fail, $"torch {release.Version} was never published as {tag} (builds: {string.Join(", ", release.IndexTags)}); pip will not find it",
                    $"CUDA {built} ({how})", null, TorchInstead(e, torchVersion, ctx.Driver));
            buildText = $"CUDA {built} ({how})";
        }
        else
        {
            // PyPI's own wheel: the table says which CUDA each release was built for.
            var pypiRelease = release ?? (e.PinnedVersion is null ? NewestTorch() : null);
            if (pypiRelease?.PypiCuda is not { } pypi || CudaVersion.TryParse(pypi) is not { } v)
                return Item(e, PreflightStatus.Warn, $"{e.Name} {e.PinnedVersion} is not in GpuRunner's table (requirements/wheels.json): pin a CUDA build to be sure",
                    null, null, TorchInstead(e, torchVersion, ctx.Driver));
            built = v;
            if (e.PinnedVersion is null)
            {
                status = PreflightStatus.Warn;
                if (notes.Count == 0) notes.Add($"unpinned: the build depends on the day you install (today's torch is at least {pypiRelease.Latest}, CUDA {v})");
                buildText = $"CUDA {v} or newer (PyPI's newest torch)";
            }
            else buildText = $"CUDA {v} (PyPI's {pypiRelease.Version} build)";
        }

        var (verdict, message) = Against(built.Value, false, ctx.Driver);
        status = Worst(status, verdict);
        if (notes.Count > 0) message = string.Join("; ", notes) + "; " + message;
        return Item(e, status, message, buildText, RequiredDriver(built.Value, false),
            status == PreflightStatus.Ok ? [] : TorchInstead(e, torchVersion, ctx.Driver, meantTag));
    }

    private TorchRelease NewestTorch() =>
        wheels.Data.Torch!.Versions.OrderByDescending(v => PackageVersion.TryParse(v.Version)!.Value, Comparer<PackageVersion>.Create((a, b) => a.CompareTo(b))).First();

    /// <summary>torch release a torchvision/torchaudio version belongs to: torchvision 0.18 → 2.3, 0.13 → 1.12; torchaudio 2.3 → 2.3, 0.12 → 1.12.</summary>
    internal static string? TorchVersionOf(string package, string? version)
    {
        if (PackageVersion.TryParse(version) is not { } v || v.Parts.Count < 2) return null;
        var (major, minor) = (v.Parts[0], v.Parts[1]);
        return package switch
        {
            "torchvision" when major == 0 => minor >= 15 ? $"2.{minor - 15}" : $"1.{minor - 1}",
            "torchaudio" when major == 0 => $"1.{minor}",
            "torchaudio" => $"{major}.{minor}",
            _ => null,
        };
    }

    /// <summary>
    /// The pin to use instead: a build whose CUDA is at or below the driver's, preferring the driver's own CUDA major
    /// (older majors lack newer GPUs' kernels, e.g. sm_90 needs CUDA 11.8+), then the tag the file meant, then the
    /// pinned release, then the newest release; a build that only runs through minor-version compatibility last.
    /// </summary>
    private IReadOnlyList<string> TorchInstead(RequirementEntry e, string? torchVersion, CudaVersion driver, string? meantTag = null)
    {
        var order = Comparer<PackageVersion>.Create((a, b) => a.CompareTo(b));
        var pinned = wheels.Torch(torchVersion);
        var options =
            from r in wheels.Data.Torch!.Versions
            from t in r.IndexTags
            let v = CuTag(t)
            where v is not null && Runs(v.Value, false, driver)
            let strict = v.Value <= driver
            orderby strict descending, (r == pinned && v.Value >= Hopper) descending, v.Value.Major == driver.Major descending, t == meantTag descending,
                PackageVersion.TryParse(r.Version)!.Value descending, v.Value descending
            select (Release: r, Tag: t);
        var pick = options.FirstOrDefault();
        if (pick.Release is null) return [];
        var r0 = pick.Release;
        var line = e.Name switch
        {
            "torch" => $"torch=={(r0 == pinned && e.PinnedVersion is not null ? e.PinnedVersion : r0.Latest)}+{pick.Tag}",
            "torchvision" => $"torchvision=={TorchvisionFor(r0.Version)}.*",
            _ => $"torchaudio=={TorchaudioFor(r0.Version)}.*",
        };
        return [$"--extra-index-url {PytorchIndex}{pick.Tag}", line];
    }

    private static string TorchvisionFor(string torch)
    {
        var v = PackageVersion.TryParse(torch)!.Value;
        return v.Parts[0] >= 2 ? $"0.{v.Parts[1] + 15}" : $"0.{v.Parts[1] + 1}";
    }

    private static string TorchaudioFor(string torch)
    {
        var v = PackageVersion.TryParse(torch)!.Value;
        return v.Parts[0] >= 2 ? torch : $"0.{v.Parts[1]}";
    }

    // ---- TensorFlow ------------------------------------------------------------------------------------------

    private PreflightItem Tensorflow(RequirementEntry e, Context ctx)
    {
        var release = wheels.Tensorflow(e.PinnedVersion);
        var newest = wheels.Data.Tensorflow!.Versions[^1];
        if (e.Name == "tensorflow-cpu")
            return Item(e, PreflightStatus.Fail, "CPU-only package: tf.config.list_physical_devices('GPU') is empty on this GPU", "CPU-only", null,
                TensorflowInstead(release, ctx.Driver, e.PinnedVersion));
        if (e.Name == "tensorflow-gpu" && (release is null || PackageVersion.TryParse(release.Version)!.Value.CompareTo(PackageVersion.TryParse("2.12")!.Value) >= 0))
            return Item(e, PreflightStatus.Fail, "tensorflow-gpu was removed after 2.11: pip fails to install it; the plain package carries GPU support",
                null, null, TensorflowInstead(release, ctx.Driver));
        if (release is null && e.PinnedVersion is not null)
            return Item(e, PreflightStatus.Warn, $"tensorflow {e.PinnedVersion} is not in GpuRunner's table (requirements/wheels.json)", null, null, []);

        var r = release ?? newest;
        var v = CudaVersion.TryParse(r.Cuda)!.Value;
        var (status, message) = Against(v, false, ctx.Driver);
        var notes = new List<string>();
        if (e.PinnedVersion is null)
        {
            status = Worst(status, PreflightStatus.Warn);
            notes.Add($"unpinned: pip takes the newest tensorflow (at least {r.Latest}, CUDA {r.Cuda})");
        }
        var withExtra = PackageVersion.TryParse(r.Version)!.Value.CompareTo(PackageVersion.TryParse("2.14")!.Value) >= 0;
        if (withExtra && !e.Extras.Contains("and-cuda"))
        {
            status = Worst(status, PreflightStatus.Warn);
            notes.Add($"without the [and-cuda] extra it needs CUDA {r.Cuda} and cuDNN {r.Cudnn} libraries in the image, else \"Could not load dynamic library\" and no GPU");
        }
        else if (!withExtra)
            notes.Add($"needs CUDA {r.Cuda} and cuDNN {r.Cudnn} libraries in the image");
        if (notes.Count > 0) message = string.Join("; ", notes) + "; " + message;
        return Item(e, status, message, $"CUDA {v} (tensorflow {r.Version})", RequiredDriver(v, false),
            status == PreflightStatus.Ok ? [] : TensorflowInstead(r, ctx.Driver, e.PinnedVersion));
    }

    private IReadOnlyList<string> TensorflowInstead(TensorflowRelease? keep, CudaVersion driver, string? pinned = null)
    {
        var pick = keep is not null && CudaVersion.TryParse(keep.Cuda)!.Value <= driver ? keep
            : wheels.Data.Tensorflow!.Versions.LastOrDefault(r => CudaVersion.TryParse(r.Cuda)!.Value <= driver)
              ?? wheels.Data.Tensorflow!.Versions.LastOrDefault(r => Runs(CudaVersion.TryParse(r.Cuda)!.Value, false, driver));
        if (pick is null) return [];
        var extra = PackageVersion.TryParse(pick.Version)!.Value.CompareTo(PackageVersion.TryParse("2.14")!.Value) >= 0 ? "[and-cuda]" : "";
        return [$"tensorflow{extra}=={(pick == keep && pinned is not null ? pinned : pick.Latest)}"];
    }

    // ---- JAX -------------------------------------------------------------------------------------------------

    private PreflightItem Jax(RequirementEntry e, Context ctx)
    {
        var plugin = JaxPlugin().Match(e.Name);
        if (plugin.Success)
        {
            var v = new CudaVersion(int.Parse(plugin.Groups[1].Value), plugin.Groups[1].Value == "12" ? 1 : 0);
            var (s, m) = Against(v, false, ctx.Driver);
            return Item(e, s, m, $"CUDA {v} ({e.Name})", RequiredDriver(v, false), s == PreflightStatus.Ok ? [] : JaxInstead(ctx.Driver, e));
        }
        var jaxWithCuda = ctx.Has(JaxExtraWorks) || ctx.Has(r => JaxPlugin().IsMatch(r.Name));
        if (e.Name == "jaxlib")
        {
            if (e.Local is { } local)
            {
                var m = JaxlibLocal().Match(local);
                if (!m.Success || CudaVersion.TryParse(m.Groups[1].Value.Length > 2 ? $"{m.Groups[1].Value[..2]}.{m.Groups[1].Value[2..]}" : m.Groups[1].Value) is not { } v)
                    return Item(e, PreflightStatus.Fail, $"unknown CUDA tag '+{local}'", null, null, JaxInstead(ctx.Driver, e));
                var majorOnly = m.Groups[1].Value.Length <= 2;
                var (s, msg) = Against(v, majorOnly, ctx.Driver);
                return Item(e, s, msg, $"CUDA {Show(v, majorOnly)} (+{local})", RequiredDriver(v, majorOnly), s == PreflightStatus.Ok ? [] : JaxInstead(ctx.Driver, e));
            }
            if (jaxWithCuda)
                return Item(e, PreflightStatus.Ok, "the CUDA build comes with jax's CUDA extra or plugin on another line", null, null);
            return Item(e, PreflightStatus.Fail, "PyPI's jaxlib is CPU-only and no working CUDA extra or plugin is required: \"a CUDA-enabled jaxlib is not installed. Falling back to cpu\"",
                "CPU-only", null, JaxInstead(ctx.Driver, e));
        }

        var cudaExtras = e.Extras.Where(x => x.StartsWith("cuda", StringComparison.Ordinal)).ToList();
        if (cudaExtras.Count == 0)
        {
            if (ctx.Has(r => JaxPlugin().IsMatch(r.Name) || (r.Name == "jaxlib" && r.Local is not null)))
                return Item(e, PreflightStatus.Ok, "the CUDA build comes from a plugin or jaxlib on another line", null, null);
            return Item(e, PreflightStatus.Fail, "no CUDA extra: pip installs the CPU-only jaxlib (\"a CUDA-enabled jaxlib is not installed. Falling back to cpu\")",
                "CPU-only", null, JaxInstead(ctx.Driver, e));
        }
        var extraName = cudaExtras[0];
        if (wheels.JaxExtra(extraName) is not { } extra || CudaVersion.TryParse(extra.Cuda) is not { } built)
            return Item(e, PreflightStatus.Fail, $"unknown CUDA extra '{extraName}'", null, null, JaxInstead(ctx.Driver, e));
        if (extra.LastJax is { } last && (e.PinnedVersion is null
            || PackageVersion.TryParse(e.PinnedVersion)!.Value.CompareTo(PackageVersion.TryParse(last)!.Value) > 0))
        {
            var which = e.PinnedVersion is null ? "unpinned: pip takes the newest jax, which" : $"jax {e.PinnedVersion}";
            return Item(e, PreflightStatus.Fail,
                $"{which} has no '{extraName}' extra (the last with it is {last}): pip warns and installs the CPU-only jaxlib",
                "CPU-only (extra ignored)", null, JaxInstead(ctx.Driver, e));
        }
        var (status, message) = Against(built, false, ctx.Driver);
        if (e.PinnedVersion is null && status == PreflightStatus.Ok)
        {
            status = PreflightStatus.Warn;
            message = "unpinned: the jax release (and its CUDA wheels) depends on the day you install; " + message;
        }
        return Item(e, status, message, $"CUDA {built} (jax[{extraName}])", RequiredDriver(built, false),
            status == PreflightStatus.Ok ? [] : JaxInstead(ctx.Driver, e));
    }

    /// <summary>A jax line whose CUDA extra exists in the release pip will pick.</summary>
    private bool JaxExtraWorks(RequirementEntry r) =>
        r.Name == "jax" && r.Extras.Any(x => wheels.JaxExtra(x) is { } extra && (extra.LastJax is null
            || (r.PinnedVersion is not null && PackageVersion.TryParse(r.PinnedVersion)!.Value.CompareTo(PackageVersion.TryParse(extra.LastJax)!.Value) <= 0)));

    /// <summary>A pinned jax keeps its release (with the extra that release has); an unpinned one gets the driver's own major.</summary>
    private IReadOnlyList<string> JaxInstead(CudaVersion driver, RequirementEntry e)
    {
        var legacy = PackageVersion.TryParse("0.4.25")!.Value;
        var pinned = e.Name == "jax" ? PackageVersion.TryParse(e.PinnedVersion) : null;
        if (driver.Major >= 12)
        {
            if (pinned is { } p)
                return p.CompareTo(legacy) <= 0
                    ? [$"-f {JaxReleases}", $"jax[cuda12_pip]=={e.PinnedVersion}"]
                    : [$"jax[cuda12]=={e.PinnedVersion}"];
            return [driver.Major >= 13 ? "jax[cuda13]" : "jax[cuda12]"];
        }
        if (driver.Major == 11 && Runs(new CudaVersion(11, 8), false, driver))
        {
            var version = pinned is { } p && p.CompareTo(legacy) <= 0 ? e.PinnedVersion : "0.4.25";
            return [$"-f {JaxReleases}", $"jax[cuda11_pip]=={version}", $"jaxlib=={version}"];
        }
        return [];
    }

    // ---- ONNX Runtime ----------------------------------------------------------------------------------------

    private PreflightItem Onnxruntime(RequirementEntry e, Context ctx)
    {
        if (e.Name == "onnxruntime")
        {
            var alsoGpu = ctx.Has(r => r.Name == "onnxruntime-gpu");
            return Item(e, PreflightStatus.Fail,
                alsoGpu ? "installed next to onnxruntime-gpu, the CPU package shadows it: sessions run on CPUExecutionProvider"
                        : "CPU-only package: no CUDAExecutionProvider, sessions run on CPUExecutionProvider",
                "CPU-only", null, alsoGpu ? ["(remove this line)"] : [e.PinnedVersion is { } v ? $"onnxruntime-gpu=={v}" : "onnxruntime-gpu"]);
        }
        var version = e.PinnedVersion;
        var cudaText = version is null ? wheels.Data.OnnxruntimeGpu!.Versions[^1].Cuda : wheels.OrtCuda(version);
        if (cudaText is null || CudaVersion.TryParse(cudaText) is not { } built)
            return Item(e, PreflightStatus.Warn, $"onnxruntime-gpu {version} is not in GpuRunner's table (requirements/wheels.json): check its CUDA in the ONNX Runtime docs", null, null);
        var majorOnly = !cudaText.Contains('.');
        var (status, message) = Against(built, majorOnly, ctx.Driver);
        if (version is null) { status = Worst(status, PreflightStatus.Warn); message = "unpinned: the newest onnxruntime-gpu may need a newer CUDA; " + message; }
        IReadOnlyList<string> instead = [];
        if (status == PreflightStatus.Fail)
        {
            var fit = wheels.Data.OnnxruntimeGpu!.Versions.LastOrDefault(r =>
                CudaVersion.TryParse(r.Cuda) is { } c && Runs(c, !r.Cuda.Contains('.'), ctx.Driver));
            if (fit is not null) instead = [$"onnxruntime-gpu=={fit.To}.*"];
        }
        return Item(e, status, message, $"CUDA {Show(built, majorOnly)} (onnxruntime-gpu {version ?? "newest"})", RequiredDriver(built, majorOnly), instead);
    }

    // ---- nvidia-* and cupy -----------------------------------------------------------------------------------

    private PreflightItem? Nvidia(RequirementEntry e, Context ctx)
    {
        var m = NvidiaSuffixed().Match(e.Name);
        string lib;
        CudaVersion built;
        var majorOnly = true;
        var pinned = PackageVersion.TryParse(e.PinnedVersion);
        if (m.Success)
        {
            lib = m.Groups["lib"].Value;
            built = new CudaVersion(int.Parse(m.Groups["major"].Value), 0);
        }
        else if (ToolkitVersioned.Contains(e.Name["nvidia-".Length..]) && pinned is { } p && p.Parts[0] >= 13)
        {
            lib = e.Name["nvidia-".Length..];
            built = new CudaVersion(p.Parts[0], 0); // CUDA 13 wheels dropped the -cuNN suffix
        }
        else return null; // nvidia-ml-py and friends: not CUDA builds
        if (ToolkitVersioned.Contains(lib) && pinned is { Parts.Count: >= 2 } pv && pv.Parts[0] == built.Major)
        {
            built = new CudaVersion(pv.Parts[0], pv.Parts[1]);
            majorOnly = false;
        }
        var (status, message) = Against(built, majorOnly, ctx.Driver);
        IReadOnlyList<string> instead = status == PreflightStatus.Fail && ctx.Driver.Major is 11 or 12 ? [$"nvidia-{lib}-cu{ctx.Driver.Major}"] : [];
        return Item(e, status, message, $"CUDA {Show(built, majorOnly)}", RequiredDriver(built, majorOnly), instead);
    }

    private PreflightItem? Cupy(RequirementEntry e, Context ctx)
    {
        if (e.Name == "cupy")
            return Item(e, PreflightStatus.Warn, "the source package compiles against the image's CUDA toolkit at install time; prefer a wheel such as cupy-cuda12x", null, null,
                ctx.Driver.Major is 11 or 12 or 13 ? [$"cupy-cuda{ctx.Driver.Major}x"] : []);
        var m = CupyTag().Match(e.Name);
        if (!m.Success) return null;
        var digits = m.Groups[1].Value;
        var majorOnly = m.Groups[2].Value == "x";
        CudaVersion? built = majorOnly ? new CudaVersion(int.Parse(digits), 0) : CuTag("cu" + digits);
        if (built is null)
            return Item(e, PreflightStatus.Fail, $"unknown CUDA tag 'cuda{digits}'", null, null);
        var (status, message) = Against(built.Value, majorOnly, ctx.Driver);
        return Item(e, status, message, $"CUDA {Show(built.Value, majorOnly)}", RequiredDriver(built.Value, majorOnly),
            status == PreflightStatus.Fail && ctx.Driver.Major >= 11 ? [$"cupy-cuda{ctx.Driver.Major}x"] : []);
    }

    [GeneratedRegex(@"^cu(\d{2,3})$")]
    private static partial Regex CuTagPattern();
    [GeneratedRegex(@"download\.pytorch\.org/whl/(?:nightly/|test/)?(cu\d+|cpu|rocm[\d.]+)(?:/|$)", RegexOptions.IgnoreCase)]
    private static partial Regex PytorchIndexTag();
    [GeneratedRegex(@"^jax-cuda(\d+)-(plugin|pjrt)$")]
    private static partial Regex JaxPlugin();
    [GeneratedRegex(@"^cuda(\d+)")]
    private static partial Regex JaxlibLocal();
    [GeneratedRegex(@"^nvidia-(?<lib>.+)-cu(?<major>\d+)$")]
    private static partial Regex NvidiaSuffixed();
    [GeneratedRegex(@"^cupy-cuda(\d+)(x?)$")]
    private static partial Regex CupyTag();
}
