using System.Runtime.InteropServices;

namespace GpuRunner.Diagnostics.Host;

/// <summary>The real machine: files, statvfs and the process environment.</summary>
public sealed partial class SystemHost : IHostFileSystem, IHostEnvironment
{
    public static SystemHost Instance { get; } = new();

    public string? TryReadAllText(string path)
    {
        try { return File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            return null;
        }
    }

    public bool Exists(string path) => File.Exists(path) || Directory.Exists(path);

    public DiskUsage? TryGetDiskUsage(string path)
    {
        if (!OperatingSystem.IsLinux()) // the struct below is the Linux layout
            return null;
        try
        {
            if (statvfs(path, out var s) != 0)
                return null;
            // f_frsize is the unit of the block counts; some file systems leave it 0 and mean f_bsize.
            var unit = s.f_frsize != 0 ? s.f_frsize : s.f_bsize;
            return new DiskUsage(checked((long)(s.f_blocks * unit)), checked((long)(s.f_bavail * unit)));
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or OverflowException)
        {
            return null;
        }
    }

    public string? GetVariable(string name) => Environment.GetEnvironmentVariable(name);

    public int ProcessorCount => Environment.ProcessorCount;

    public string CurrentDirectory => Environment.CurrentDirectory;

    // glibc/musl on 64-bit Linux: eleven unsigned longs then six ints of padding (sys/statvfs.h).
    [StructLayout(LayoutKind.Sequential)]
    private struct StatVfs
    {
        public ulong f_bsize, f_frsize, f_blocks, f_bfree, f_bavail, f_files, f_ffree, f_favail, f_fsid, f_flag, f_namemax;
        public int spare0, spare1, spare2, spare3, spare4, spare5;
    }

    [LibraryImport("libc", EntryPoint = "statvfs", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int statvfs(string path, out StatVfs buf);
}
