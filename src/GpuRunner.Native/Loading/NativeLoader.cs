using System.Reflection;
using System.Runtime.InteropServices;

namespace GpuRunner.Native.Loading;

/// <summary>The two driver libraries GpuRunner talks to.</summary>
public enum DriverLibrary { Nvml, Cuda }

/// <summary>One place the loader looked, and what dlopen said.</summary>
public sealed record LoadAttempt(string Candidate, bool Loaded, string? Error)
{
    public override string ToString() => Loaded ? $"tried {Candidate}: loaded" : $"tried {Candidate}: {Error}";
}

/// <summary>Where a library was found (or not), with every attempt in order.</summary>
public sealed record LoadResult(DriverLibrary Library, string FileName, nint Handle, string? LoadedFrom,
    IReadOnlyList<LoadAttempt> Trace)
{
    public bool Loaded => Handle != 0;
    public IEnumerable<string> TraceLines => Trace.Select(a => a.ToString());
}

/// <summary>
/// Finds libnvidia-ml.so.1 / libcuda.so.1 the way containers ship them: an explicit override first, then the
/// dynamic loader's own search (ldconfig, LD_LIBRARY_PATH), then the folders the NVIDIA container toolkit and WSL
/// mount. The versioned names come first because containers often lack the unversioned dev links.
/// </summary>
public sealed class NativeLoader
{
    public const string NvmlPathVariable = "GPURUNNER_NVML_PATH";
    public const string CudaPathVariable = "GPURUNNER_CUDA_PATH";

    /// <summary>Folders searched after the default loader search, in order.</summary>
    public static readonly IReadOnlyList<string> SearchFolders =
        ["/usr/local/nvidia/lib64", "/usr/local/nvidia/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib/wsl/lib"];

    private readonly Func<string, string?> _getEnv;
    private readonly IReadOnlyList<string> _folders;
    private readonly bool _defaultSearch;
    private readonly Lock _gate = new();
    private LoadResult? _nvml, _cuda;

    /// <param name="getEnv">Environment lookup (tests inject one).</param>
    /// <param name="folders">Folders after the default search (default: <see cref="SearchFolders"/>).</param>
    /// <param name="defaultSearch">Whether bare names go through the dynamic loader's own search (ldconfig, LD_LIBRARY_PATH).</param>
    public NativeLoader(Func<string, string?>? getEnv = null, IReadOnlyList<string>? folders = null, bool defaultSearch = true)
    {
        _getEnv = getEnv ?? Environment.GetEnvironmentVariable;
        _folders = folders ?? SearchFolders;
        _defaultSearch = defaultSearch;
    }

    /// <summary>The process-wide loader behind [LibraryImport("nvml")] / [LibraryImport("cuda")].</summary>
    public static NativeLoader Default { get; } = CreateDefault();

    private static NativeLoader CreateDefault()
    {
        var loader = new NativeLoader();
        // The imports name "nvml" and "cuda"; the resolver hands the runtime whatever handle the search found.
        NativeLibrary.SetDllImportResolver(typeof(NativeLoader).Assembly, loader.Resolve);
        return loader;
    }

    public static string FileNameOf(DriverLibrary library) =>
        library == DriverLibrary.Nvml ? "libnvidia-ml.so.1" : "libcuda.so.1";

    public LoadResult Nvml => Get(DriverLibrary.Nvml);
    public LoadResult Cuda => Get(DriverLibrary.Cuda);

    public LoadResult Get(DriverLibrary library)
    {
        lock (_gate)
        {
            ref var slot = ref library == DriverLibrary.Nvml ? ref _nvml : ref _cuda;
            return slot ??= Search(library);
        }
    }

    private nint Resolve(string name, Assembly assembly, DllImportSearchPath? path) => name switch
    {
        "nvml" => Nvml.Handle,
        "cuda" => Cuda.Handle,
        _ => 0,
    };

    /// <summary>The candidate paths, in the order they are tried.</summary>
    public IEnumerable<string> Candidates(DriverLibrary library)
    {
        var versioned = FileNameOf(library);
        var unversioned = versioned[..^2]; // libcuda.so
        var overrideVar = library == DriverLibrary.Nvml ? NvmlPathVariable : CudaPathVariable;
        var overridePath = _getEnv(overrideVar);
        if (!string.IsNullOrWhiteSpace(overridePath))
        {
            if (Directory.Exists(overridePath))
            {
                yield return Path.Combine(overridePath, versioned);
                yield return Path.Combine(overridePath, unversioned);
            }
            else
                yield return overridePath; // a file (or a name the loader should resolve)
        }
        if (_defaultSearch)
        {
            yield return versioned;
            yield return unversioned;
        }
        foreach (var folder in _folders)
        {
            yield return Path.Combine(folder, versioned);
            yield return Path.Combine(folder, unversioned);
        }
    }

    private LoadResult Search(DriverLibrary library)
    {
        var trace = new List<LoadAttempt>();
        foreach (var candidate in Candidates(library))
        {
            if (Path.IsPathRooted(candidate) && !File.Exists(candidate))
            {
                trace.Add(new LoadAttempt(candidate, false, "no such file"));
                continue;
            }
            if (NativeLibrary.TryLoad(candidate, out var handle))
            {
                trace.Add(new LoadAttempt(candidate, true, null));
                return new LoadResult(library, FileNameOf(library), handle, ResolvedPath(candidate), trace);
            }
            trace.Add(new LoadAttempt(candidate, false, DlError(candidate)));
        }
        return new LoadResult(library, FileNameOf(library), 0, null, trace);
    }

    /// <summary>TryLoad drops dlerror's text; a second, throwing Load recovers it (only on the failure path).</summary>
    private static string DlError(string candidate)
    {
        try
        {
            var handle = NativeLibrary.Load(candidate);
            NativeLibrary.Free(handle);
            return "loaded on a second attempt";
        }
        catch (Exception e) when (e is DllNotFoundException or BadImageFormatException)
        {
            var message = e.Message.TrimEnd();
            var newline = message.LastIndexOf('\n');
            return (newline >= 0 ? message[(newline + 1)..] : message).Trim();
        }
    }

    /// <summary>A bare name found through the default search: name it by the file the process actually mapped.</summary>
    private static string ResolvedPath(string candidate)
    {
        if (Path.IsPathRooted(candidate)) return candidate;
        try
        {
            foreach (var line in File.ReadLines("/proc/self/maps"))
            {
                var slash = line.IndexOf('/');
                if (slash > 0 && line.EndsWith("/" + candidate, StringComparison.Ordinal)) return line[slash..];
                // libcuda.so.1 is usually a link to libcuda.so.580.xx: match the stem too.
                if (slash > 0 && line.AsSpan(slash).Contains(StemOf(candidate), StringComparison.Ordinal))
                    return line[slash..];
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return candidate;
    }

    private static string StemOf(string fileName) => "/" + fileName[..(fileName.IndexOf(".so", StringComparison.Ordinal) + 3)];
}
