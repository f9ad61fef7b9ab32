using System.Runtime.InteropServices;

namespace GpuRunner.Cli.Exec;

/// <summary>
/// The one libc call .NET lacks: sending an arbitrary signal (Process.Kill only sends SIGKILL). The published
/// binary targets glibc linux-x64, hence "libc.so.6" (plain "libc.so" is a linker script on machines with libc6-dev).
/// </summary>
internal static partial class Posix
{
    public const int SIGHUP = 1, SIGINT = 2, SIGQUIT = 3, SIGKILL = 9, SIGUSR1 = 10, SIGUSR2 = 12, SIGTERM = 15;

    [LibraryImport("libc.so.6", EntryPoint = "kill", SetLastError = true)]
    private static partial int kill(int pid, int sig);

    /// <summary>Sends <paramref name="signal"/>; false when the process is already gone (ESRCH) or not ours.</summary>
    public static bool Kill(int pid, int signal) => kill(pid, signal) == 0;

    public static string Name(int signal) => signal switch
    {
        1 => "SIGHUP", 2 => "SIGINT", 3 => "SIGQUIT", 4 => "SIGILL", 5 => "SIGTRAP", 6 => "SIGABRT", 7 => "SIGBUS",
        8 => "SIGFPE", 9 => "SIGKILL", 10 => "SIGUSR1", 11 => "SIGSEGV", 12 => "SIGUSR2", 13 => "SIGPIPE",
        14 => "SIGALRM", 15 => "SIGTERM", 24 => "SIGXCPU", 25 => "SIGXFSZ", 31 => "SIGSYS",
        _ => $"signal {signal}",
    };

    /// <summary>
    /// .NET reports a child killed by signal N as exit code 128+N (as shells do); an exit code in 129..159 is read
    /// back as that signal. A program that itself calls exit(137) is indistinguishable, as it is for a shell.
    /// </summary>
    public static int? SignalOf(int exitCode) => exitCode is > 128 and < 160 ? exitCode - 128 : null;
}
