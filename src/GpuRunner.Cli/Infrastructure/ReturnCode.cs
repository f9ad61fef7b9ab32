namespace GpuRunner.Cli.Infrastructure;

/// <summary>Process exit codes; documented in README ("Exit codes"). `exec` is the exception: it returns the child's code.</summary>
public enum ReturnCode
{
    Ok = 0,
    /// <summary>A check failed, an --expect did not match, or a requirement cannot use the GPU.</summary>
    CheckFailed = 1,
    /// <summary>Bad usage or input: unknown flag, unreadable file, malformed value.</summary>
    UsageError = 2,
    /// <summary>A bug: an exception nobody expected. Printed with its stack trace.</summary>
    InternalError = 70,
    /// <summary>Interrupted by Ctrl-C / SIGTERM.</summary>
    Interrupted = 130,
}
