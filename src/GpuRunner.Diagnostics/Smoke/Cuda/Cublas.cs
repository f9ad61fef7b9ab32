using System.Runtime.InteropServices;

namespace GpuRunner.Diagnostics.Smoke.Cuda;

/// <summary>A cuBLAS call failed: the status name and cuBLAS's own text.</summary>
public sealed class CublasException(string function, int status, string text)
    : Exception($"{function} failed: {text} (cublasStatus_t {status})")
{
    public int Status { get; } = status;
}

/// <summary>
/// cuBLAS from the container's CUDA libraries, loaded at run time (it is not ours to ship: 100+ MB, and it must match
/// the container's CUDA). Entry points are taken as function pointers so any found copy works; the search is traced.
/// </summary>
public sealed unsafe class Cublas : IDisposable
{
    public const string PathVariable = "GPURUNNER_CUBLAS_PATH";
    public const int CUDA_R_32F = 0, CUDA_R_16F = 2, CUDA_R_16BF = 14;
    public const int CUBLAS_COMPUTE_32F = 68, CUBLAS_GEMM_DEFAULT = -1, CUBLAS_OP_N = 0;

    private readonly nint _library, _lt;
    private readonly delegate* unmanaged<nint*, int> _create;
    private readonly delegate* unmanaged<nint, int> _destroy;
    private readonly delegate* unmanaged<nint, int*, int> _getVersion;
    private readonly delegate* unmanaged<int, byte*> _statusString;
    private readonly delegate* unmanaged<nint, int, int, int, int, int, void*, ulong, int, int, ulong, int, int, void*, ulong, int, int, int, int, int> _gemmEx;

    public string Path { get; }

    private Cublas(nint library, nint lt, string path)
    {
        _library = library;
        _lt = lt;
        Path = path;
        _create = (delegate* unmanaged<nint*, int>)Export("cublasCreate_v2");
        _destroy = (delegate* unmanaged<nint, int>)Export("cublasDestroy_v2");
        _getVersion = (delegate* unmanaged<nint, int*, int>)Export("cublasGetVersion_v2");
        _gemmEx = (delegate* unmanaged<nint, int, int, int, int, int, void*, ulong, int, int, ulong, int, int, void*, ulong, int, int, int, int, int>)Export("cublasGemmEx");
        _statusString = NativeLibrary.TryGetExport(library, "cublasGetStatusString", out var s) ? (delegate* unmanaged<int, byte*>)s : null;
    }

    private nint Export(string name) =>
        NativeLibrary.TryGetExport(_library, name, out var p) ? p : throw new EntryPointNotFoundException($"{Path} has no {name}");

    /// <summary>Where to look, in order: the override, the loader's own search (ldconfig, LD_LIBRARY_PATH), the CUDA
    /// toolkit folders, then the pip wheels (nvidia-cublas / nvidia cu13) of the Pythons on PATH.</summary>
    public static IEnumerable<string> Candidates(Func<string, string?>? getEnv = null)
    {
        getEnv ??= Environment.GetEnvironmentVariable;
        string[] names = ["libcublas.so.13", "libcublas.so.12"];
        if (getEnv(PathVariable) is { Length: > 0 } over)
        {
            if (Directory.Exists(over)) foreach (var n in names) yield return System.IO.Path.Combine(over, n);
            else yield return over;
        }
        foreach (var n in names) yield return n;
        var folders = new List<string> { "/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib" };
        folders.AddRange(SafeGlob("/usr/local", "cuda-*").OrderDescending().Select(d => System.IO.Path.Combine(d, "targets/x86_64-linux/lib")));
        foreach (var site in SitePackages(getEnv))
        {
            folders.Add(System.IO.Path.Combine(site, "nvidia/cu13/lib"));
            folders.Add(System.IO.Path.Combine(site, "nvidia/cublas/lib"));
        }
        foreach (var f in folders.Distinct())
        foreach (var n in names)
            yield return System.IO.Path.Combine(f, n);
    }

    /// <summary>Loads the first copy that has the entry points; null with the trace when none does.</summary>
    public static Cublas? TryLoad(List<string> trace, Func<string, string?>? getEnv = null)
    {
        foreach (var candidate in Candidates(getEnv))
        {
            if (System.IO.Path.IsPathRooted(candidate) && !File.Exists(candidate))
            {
                trace.Add($"cuBLAS: tried {candidate}: no such file");
                continue;
            }
            // libcublas needs libcublasLt of the same release: load the sibling first so the right one is used.
            nint lt = 0;
            if (System.IO.Path.IsPathRooted(candidate))
                NativeLibrary.TryLoad(System.IO.Path.Combine(System.IO.Path.GetDirectoryName(candidate)!,
                    System.IO.Path.GetFileName(candidate).Replace("libcublas.", "libcublasLt.")), out lt);
            try
            {
                var handle = NativeLibrary.Load(candidate);
                var cublas = new Cublas(handle, lt, candidate);
                trace.Add($"cuBLAS: loaded {candidate}");
                return cublas;
            }
            catch (Exception e) when (e is DllNotFoundException or BadImageFormatException or EntryPointNotFoundException)
            {
                trace.Add($"cuBLAS: tried {candidate}: {e.Message.Split('\n')[^1].Trim()}");
            }
        }
        return null;
    }

    public nint Create()
    {
        nint h;
        Check(_create(&h), "cublasCreate_v2");
        return h;
    }

    public void Destroy(nint handle) => _destroy(handle);

    public string Version(nint handle)
    {
        int v;
        Check(_getVersion(handle, &v), "cublasGetVersion_v2");
        return $"{v / 10000}.{v / 100 % 100}.{v % 100}";
    }

    /// <summary>C = A·B, column-major, fp32 accumulation (CUBLAS_COMPUTE_32F), default algorithm (tensor cores when the
    /// types allow). Runs on the handle's stream (the default one).</summary>
    public void GemmEx(nint handle, int m, int n, int k, ulong a, int aType, ulong b, int bType, ulong c, int cType)
    {
        float alpha = 1, beta = 0;
        Check(_gemmEx(handle, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &alpha, a, aType, m, b, bType, k, &beta, c, cType, m,
            CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT), "cublasGemmEx");
    }

    private void Check(int status, string function)
    {
        if (status == 0) return;
        var text = _statusString != null ? Marshal.PtrToStringUTF8((nint)_statusString(status)) ?? "" : "";
        throw new CublasException(function, status, text.Length > 0 ? text : $"status {status}");
    }

    public void Dispose()
    {
        // Never dlclose cuBLAS: its static CUDA runtime registers exit handlers that would then point nowhere.
        GC.KeepAlive(_lt);
    }

    private static IEnumerable<string> SitePackages(Func<string, string?> getEnv)
    {
        var roots = new List<string>();
        foreach (var dir in (getEnv("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
            if (File.Exists(System.IO.Path.Combine(dir, "python3")))
                roots.Add(System.IO.Path.GetFullPath(System.IO.Path.Combine(dir, "..", "lib")));
        roots.AddRange(["/usr/local/lib", "/usr/lib"]);
        foreach (var root in roots.Distinct())
        foreach (var py in SafeGlob(root, "python3*"))
        foreach (var sub in new[] { "site-packages", "dist-packages" })
            if (Directory.Exists(System.IO.Path.Combine(py, sub)))
                yield return System.IO.Path.Combine(py, sub);
    }

    private static IEnumerable<string> SafeGlob(string dir, string pattern)
    {
        try { return Directory.Exists(dir) ? Directory.GetDirectories(dir, pattern) : []; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return []; }
    }
}
