using System.CommandLine;
using GpuRunner.Cli.Exec;
using GpuRunner.Cli.Infrastructure;

namespace GpuRunner.Cli.Commands;

/// <summary>
/// `gpurunner exec [options] -- cmd args...`: the container entrypoint wrapper. Verifies, reports to the core, runs
/// the app, watches it, and exits with the app's own exit code (128+N for signal N). Usage errors are 2, as everywhere;
/// a command that cannot be started is 127 (not found) or 126 (not executable), as in a shell. With a core it also
/// supervises the app for the Space (docs/supervision.md): 75/76 with --exit-when-stopped, 77 when the Space is deleted.
/// </summary>
public static class ExecCommand
{
    public static readonly Option<string?> Core = new("--core") { Description = "The core's base URL (else $GPURUNNER_CORE_URL). Without one the app runs and nothing is reported." };
    public static readonly Option<string?> Space = new("--space") { Description = "The Space, NAMESPACE/NAME (else $SPACE_ID)." };
    public static readonly Option<string?> Token = new("--token") { Description = "The Space's runner token (else $GPURUNNER_TOKEN)." };

    public static Command Create(IConsole console)
    {
        var require = new Option<bool>("--require") { Description = "Do not start the app when verify FAILs (exit 1)." };
        var readyPort = new Option<int?>("--ready-port") { Description = "RUNNING once this TCP port accepts connections (default $PORT, else 7860); also the port --ready-http asks." };
        var readyHttp = new Option<string?>("--ready-http") { Description = "RUNNING once GET http://127.0.0.1:PORT/PATH answers 2xx/3xx." };
        var readyLog = new Option<string?>("--ready-log") { Description = "RUNNING once a line of the app's output matches this regular expression." };
        var heartbeat = new Option<double>("--heartbeat") { Description = "Seconds between heartbeats (GPU utilisation, memory, temperature, power).", DefaultValueFactory = _ => ExecOptions.DefaultHeartbeat.TotalSeconds };
        var grace = new Option<double>("--grace") { Description = "Seconds the app gets after a forwarded SIGTERM/SIGINT before SIGKILL.", DefaultValueFactory = _ => ExecOptions.DefaultGrace.TotalSeconds };
        var exitWhenStopped = new Option<bool>("--exit-when-stopped")
        {
            Description = $"When the core pauses the Space or puts it to sleep, stop the app and exit ({ExecRunner.StoppedByCoreCode}; {ExecRunner.RescheduleCode} when other hardware is requested) instead of waiting for a restart or a visit.",
        };
        var smoke = new Option<string>("--smoke")
        {
            Description = "Smoke-test the GPUs before the app starts: changed (hardware not proven for this Space before), always, never.",
            DefaultValueFactory = _ => "changed",
        };
        smoke.AcceptOnlyFromAmong("changed", "always", "never");
        var noGpuWatch = new Option<bool>("--no-gpu-watch") { Description = "Do not watch the GPUs (NVML events and health counters) while the app runs." };
        var gpuPoll = new Option<double>("--gpu-poll") { Description = "Seconds between polls of the GPU health counters (also where NVML events are not supported).", DefaultValueFactory = _ => Diagnostics.Watch.GpuWatchOptions.DefaultPoll.TotalSeconds };
        var command = new Argument<string[]>("command") { Description = "The app and its arguments, after --.", Arity = ArgumentArity.OneOrMore };

        var exec = new Command("exec", "Run the app (after --), report its stages, heartbeats and exit to the core, and exit with its code.")
        {
            Core, Space, Token, require, readyPort, readyHttp, readyLog, heartbeat, grace, exitWhenStopped, smoke, noGpuWatch, gpuPoll, CommonOptions.Verbose, command,
        };
        // Synchronous on purpose: System.CommandLine installs its own SIGINT/SIGTERM handler for asynchronous actions
        // (cancel, then exit 130/143 two seconds later), which would cut the app's grace period and orphan it.
        exec.SetAction(parse => (int)CommandRunner.RunAsync(console, () =>
        {
            var options = Options(parse.GetValue(command)!, parse.GetValue(require), parse.GetValue(readyPort),
                parse.GetValue(readyHttp), parse.GetValue(readyLog), parse.GetValue(heartbeat), parse.GetValue(grace),
                Environment.GetEnvironmentVariable, !parse.GetValue(noGpuWatch), parse.GetValue(gpuPoll)) with
                { ExitWhenStopped = parse.GetValue(exitWhenStopped), Smoke = Enum.Parse<SmokePolicy>(parse.GetValue(smoke)!, ignoreCase: true) };
            var settings = CoreSettings.Resolve(parse.GetValue(Core), parse.GetValue(Space), parse.GetValue(Token));
            return RunAsync(console, options, settings, parse.GetValue(CommonOptions.Verbose));
        }).GetAwaiter().GetResult());
        return exec;
    }

    /// <summary>Runs with the production services; the result is the app's code, passed through untouched.</summary>
    internal static async Task<ReturnCode> RunAsync(IConsole console, ExecOptions options, CoreSettings? settings, bool verbose = false)
    {
        var io = ExecServices.IOFor(console);
        await using var events = ExecServices.Recorder(settings, io.Log);
        var sampler = ExecServices.HeartbeatSampler(io.Log);
        using var watch = options.GpuWatch ? new GpuWatch(events, io.Log, new Diagnostics.Watch.GpuWatchOptions(options.GpuPoll)) : null;
        try
        {
            using var client = ExecServices.DesiredClient(settings);
            var desired = client is null ? null : new CoreDesiredSource(client, io.Log.Line);
            var runner = new ExecRunner(options, io, events, ExecServices.DeviceReporter(io.Log, verbose), sampler, desired,
                ExecServices.SmokeTest(options.Smoke, settings, io.Log), watch);
            return (ReturnCode)await runner.RunAsync();
        }
        finally
        {
            (sampler as IDisposable)?.Dispose();
        }
    }

    /// <summary>Validates the flags into <see cref="ExecOptions"/>; a <see cref="CommandException"/> (exit 2) names the bad one.</summary>
    internal static ExecOptions Options(string[] command, bool require, int? readyPort, string? readyHttp, string? readyLog,
        double heartbeatSeconds, double graceSeconds, Func<string, string?> env, bool gpuWatch = true, double gpuPollSeconds = 5)
    {
        if (command.Length == 0 || string.IsNullOrWhiteSpace(command[0]))
            throw new CommandException("no command to run: gpurunner exec [options] -- CMD [ARGS...]");
        if (readyHttp is not null && readyLog is not null)
            throw new CommandException("choose one readiness signal: --ready-http or --ready-log, not both");
        if (readyLog is not null && readyPort is not null)
            throw new CommandException("--ready-port has no effect with --ready-log; use one of them");

        int port;
        if (readyPort is { } p) port = p;
        else if (env("PORT") is { Length: > 0 } envPort)
            port = int.TryParse(envPort, out var parsed) ? parsed : throw new CommandException($"PORT='{envPort}' is not a port number; set --ready-port");
        else port = 7860;
        if (port is < 1 or > 65535) throw new CommandException($"--ready-port must be 1..65535, got {port}");

        if (readyHttp is not null && !readyHttp.StartsWith('/'))
            throw new CommandException($"--ready-http takes a path starting with '/', got '{readyHttp}'");
        if (readyLog is not null)
        {
            try { LogLineProbe.Compile(readyLog); }
            catch (ArgumentException e) { throw new CommandException($"--ready-log is not a valid regular expression: {e.Message}"); }
        }
        if (!(heartbeatSeconds >= 1 && heartbeatSeconds <= 3600))
            throw new CommandException($"--heartbeat must be 1..3600 seconds, got {heartbeatSeconds}");
        if (!(graceSeconds >= 0 && graceSeconds <= 3600))
            throw new CommandException($"--grace must be 0..3600 seconds, got {graceSeconds}");

        if (!(gpuPollSeconds >= 0.2 && gpuPollSeconds <= 3600))
            throw new CommandException($"--gpu-poll must be 0.2..3600 seconds, got {gpuPollSeconds}");

        var mode = readyHttp is not null ? ReadinessMode.Http : readyLog is not null ? ReadinessMode.Log : ReadinessMode.Port;
        return new ExecOptions(command, require, mode, port, readyHttp, readyLog,
            TimeSpan.FromSeconds(heartbeatSeconds), TimeSpan.FromSeconds(graceSeconds),
            GpuWatch: gpuWatch, GpuPoll: TimeSpan.FromSeconds(gpuPollSeconds));
    }
}
