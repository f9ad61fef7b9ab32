using System.Runtime.InteropServices;
using GpuRunner.Native.Loading;
using GpuRunner.Tests.Fakes;

[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace GpuRunner.Native.Tests;

/// <summary>
/// Points the process-wide loader at the fake drivers before anything loads, and sets FAKE_* in the NATIVE
/// environment (Environment.SetEnvironmentVariable only changes .NET's copy; the fakes read getenv).
/// </summary>
public static partial class NativeEnvironment
{
    private static readonly Lazy<NativeLoader> Loader = new(() =>
    {
        Environment.SetEnvironmentVariable(NativeLoader.NvmlPathVariable, FakeDrivers.Folder);
        Environment.SetEnvironmentVariable(NativeLoader.CudaPathVariable, FakeDrivers.Folder);
        return NativeLoader.Default;
    });

    /// <summary>The default loader, bound to the fakes.</summary>
    public static NativeLoader Fakes => Loader.Value;

    [LibraryImport("libc", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int setenv(string name, string value, int overwrite);

    [LibraryImport("libc", EntryPoint = "unsetenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int unsetenv(string name);

    /// <summary>Sets a native environment variable for the scope.</summary>
    public static IDisposable Set(string name, string value)
    {
        setenv(name, value, 1);
        return new Unset(name);
    }

    private sealed class Unset(string name) : IDisposable
    {
        public void Dispose() => unsetenv(name);
    }
}
