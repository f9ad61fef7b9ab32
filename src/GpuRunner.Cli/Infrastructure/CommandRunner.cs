using System.CommandLine;

namespace GpuRunner.Cli.Infrastructure;

/// <summary>
/// The command boundary: runs a command body, turns expected failures into one line and a documented code,
/// and prints a stack trace only for bugs.
/// </summary>
public static class CommandRunner
{
    public static void SetHandler(this Command command, IConsole console,
        Func<ParseResult, CancellationToken, Task<ReturnCode>> body)
    {
        command.SetAction(async (parse, ct) => (int)await RunAsync(console, () => body(parse, ct), ct));
    }

    /// <param name="ct">The command's Ctrl-C / SIGTERM token: only its cancellation is an interruption.</param>
    public static async Task<ReturnCode> RunAsync(IConsole console, Func<Task<ReturnCode>> body, CancellationToken ct = default)
    {
        try
        {
            return await body();
        }
        catch (CommandException e)
        {
            console.Error.WriteLine($"gpurunner: error: {e.Message}");
            return e.Code;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested || !ct.CanBeCanceled)
        {
            console.Error.WriteLine("gpurunner: interrupted");
            return ReturnCode.Interrupted;
        }
        catch (OperationCanceledException e)
        {
            // Not the user's Ctrl-C: something gave up waiting (an HTTP client's timeout) and nobody turned it into
            // a message. Not an interruption (130), and no stack trace: the wait that ran out is the news.
            console.Error.WriteLine($"gpurunner: error: timed out: {e.InnerException?.Message ?? e.Message}");
            return ReturnCode.CheckFailed;
        }
        catch (Exception e)
        {
            console.Error.WriteLine($"gpurunner: internal error (a bug; please report it): {e}");
            return ReturnCode.InternalError;
        }
    }
}
