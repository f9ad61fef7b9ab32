namespace GpuRunner.Cli.Infrastructure;

/// <summary>
/// An expected failure (bad input, unreachable core, missing file). Caught at the command boundary and printed
/// as one line without a stack trace; anything else that escapes a command is treated as a bug.
/// </summary>
public sealed class CommandException(string message, ReturnCode code = ReturnCode.UsageError, Exception? inner = null)
    : Exception(message, inner)
{
    public ReturnCode Code { get; } = code;
}
