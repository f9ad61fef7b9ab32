using System.CommandLine;
using System.Reflection;
using System.Text.Json;
using GpuRunner.Cli.Infrastructure;
using GpuRunner.Cli.Smoke;
using GpuRunner.Diagnostics.Smoke;

namespace GpuRunner.Cli.Commands;

/// <summary>
/// `gpurunner smoke`: proves the card is the one paid for and healthy — bandwidth, GEMM, memory test, NVML health,
/// against the catalogue's spec. Exit codes: 0 nothing failed (WARN and SKIP included, so a machine without a GPU
/// exits 0 unless --expect named a GPU tier), 1 a check failed or --expect did not match, 2 bad usage, 130 Ctrl-C
/// (the report so far is still printed and GPU memory is freed).
/// </summary>
public static class SmokeCommand
{
    private static readonly Option<string?> Expect = new("--expect")
    {
        Description = "The hardware flavor this machine should be (e.g. h200, a10g-small); a mismatch fails the run.",
    };

    private static readonly Option<string> Level = new("--level")
    {
        Description = "quick (<= 15 s per GPU), standard (<= 2 min per GPU: >= 90 % memtest), long (adds a sustained GEMM).",
        DefaultValueFactory = _ => "standard",
    };

    private static readonly Option<int?> Duration = new("--duration")
    {
        Description = "Seconds of sustained GEMM at --level long (default 60).",
    };

    private static readonly Option<string?> Plot = new("--plot")
    {
        Description = "Write PNG charts to this folder: bandwidth against transfer size; clocks, power, temperature over time.",
    };

    static SmokeCommand()
    {
        Level.AcceptOnlyFromAmong("quick", "standard", "long");
        Duration.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int?>() is <= 0 or > 86_400) r.AddError("--duration must be between 1 and 86400 seconds");
        });
    }

    public static Command Create(IConsole console, Func<ISmokeBackend>? backendFactory = null)
    {
        var command = new Command("smoke", "Smoke-test the GPU(s) against the tier's spec: health, bandwidth, GEMM, memory test.");
        command.Options.Add(Expect);
        command.Options.Add(Level);
        command.Options.Add(Duration);
        command.Options.Add(Plot);
        command.SetHandler(console, (parse, ct) => RunAsync(console, parse, backendFactory ?? SmokeBackends.Open, ct));
        return command;
    }

    private static Task<ReturnCode> RunAsync(IConsole console, ParseResult parse, Func<ISmokeBackend> open, CancellationToken ct)
    {
        var level = parse.GetValue(Level) switch { "quick" => SmokeLevel.Quick, "long" => SmokeLevel.Long, _ => SmokeLevel.Standard };
        var duration = parse.GetValue(Duration);
        if (duration is not null && level != SmokeLevel.Long)
            throw new CommandException("--duration applies to --level long only");
        var plotDir = parse.GetValue(Plot);
        if (plotDir is not null) SmokePlots.EnsureWritable(plotDir); // fail before minutes of testing, not after
        var expect = parse.GetValue(Expect);
        var identity = SmokeIdentity.Load();
        identity.Validate(expect);
        var style = OutputStyles.For(console, parse.GetValue(CommonOptions.Json));
        var plan = SmokePlan.For(level, duration is { } s ? TimeSpan.FromSeconds(s) : null);

        // The runner blocks on GPU work: run it off the caller's thread so Ctrl-C's cancellation is observed.
        return Task.Run(() =>
        {
            using var backend = open();
            if (style == OutputStyle.Plain) SmokeOutput.WritePlainHeader(console.Out, backend, level);
            var machineChecks = identity.Check(expect, backend);
            var version = typeof(SmokeCommand).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";
            var report = style == OutputStyle.Rich
                ? SmokeOutput.RunWithProgress(console, p => new SmokeRunner(backend, plan, identity.SpecFor, p).Run(machineChecks, expect, version, ct))
                : new SmokeRunner(backend, plan, identity.SpecFor)
                {
                    OnCheck = style == OutputStyle.Plain ? c => SmokeOutput.WritePlainCheck(console.Out, c) : null,
                }.Run(machineChecks, expect, version, ct);

            IReadOnlyList<string> plots = [];
            try
            {
                if (plotDir is not null) plots = SmokePlots.Write(report, plotDir);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // Charts are a view of the report: never lose the report (or its exit code) to them.
                console.Error.WriteLine($"gpurunner: warning: --plot {plotDir}: charts not written: {e.Message}");
            }
            switch (style)
            {
                case OutputStyle.Json:
                    console.Out.WriteLine(JsonSerializer.Serialize(report, SmokeJsonContext.Default.SmokeReport));
                    console.Error.WriteLine(report.VerdictLine); // stdout stays pure JSON; the log still gets the line
                    break;
                case OutputStyle.Rich:
                    SmokeOutput.WriteRich(console, report, backend.Trace, plots);
                    break;
                default:
                    SmokeOutput.WritePlainFooter(console.Out, report, plots);
                    break;
            }
            if (report.Interrupted) return ReturnCode.Interrupted;
            return report.Verdict == SmokeStatus.Fail ? ReturnCode.CheckFailed : ReturnCode.Ok;
        }, CancellationToken.None);
    }
}
