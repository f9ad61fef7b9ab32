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
        command.SetAction(async (parse, ct) => (int)await RunAsync(console, () => body(parse, ct)));
    }

    public static async Task<ReturnCode> RunAsync(IConsole console, Func<Task<ReturnCode>> body)
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
        catch (OperationCanceledException)
        {
            console.Error.WriteLine("gpurunner: interrupted");
            return ReturnCode.Interrupted;
        }
        catch (Exception e)
        {
            console.Error.WriteLine($"gpurunner: internal error (a bug; please report it): {e}");
            return ReturnCode.InternalError;
        }
    }
}
