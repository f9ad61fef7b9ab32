using System.Text;
using System.Text.Json;
using GpuRunner.Cli.Commands;
using GpuRunner.Cli.Infrastructure;
using GpuRunner.Cli.Rendering;
using GpuRunner.Diagnostics.Checks;
using GpuRunner.Diagnostics.Report;

namespace GpuRunner.Cli.Exec;

/// <summary>
/// `verify` before the app starts: the same checks (native + those other parts register), each under its deadline,
/// and the contract's device report for the core. The block the runner prints is <see cref="VerifyBlock"/>'s choice;
/// with --verbose it is streamed line by line as the checks finish (a slow check shows progress).
/// </summary>
public sealed class VerifyDeviceReporter(RunnerLog log, bool verbose = false) : IDeviceReporter
{
    public Task<VerifyOutcome?> RunAsync(CancellationToken ct) => Task.Run(() => Run(ct), ct);

    private VerifyOutcome? Run(CancellationToken ct)
    {
        var services = Services.Create();
        var checks = StandardChecks.Create();
        checks.AddRange(VerifyCommand.ExtraChecks.Select(f => f()));

        var report = new DeviceReport { Host = services.Host() };
        using var context = new CheckContext(report, services: services);
        using var writer = verbose ? new LogLineWriter(log) : null;
        var block = new StringWriter();
        var plain = new PlainReport(writer ?? (TextWriter)block, verbose);
        plain.WriteHost(report.Host);
        var results = new List<CheckResult>();
        foreach (var check in checks)
        {
            ct.ThrowIfCancellationRequested();
            var result = new CheckRunner().RunOne(check, context);
            context.Record(result);
            results.Add(result);
            plain.WriteCheck(result, report);
        }
        report.Checks = results.Select(r => r.ToReport()).ToList();
        report.Verdict = StandardChecks.Verdict(results);
        plain.WriteVerdict(results, report.Verdict);
        writer?.Flush();

        var json = JsonSerializer.SerializeToElement(report, ReportJsonContext.Default.DeviceReport);
        var lines = block.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).ToList();
        return new VerifyOutcome(json, report.Verdict, verbose ? [] : VerifyBlock.For(report, results, lines));
    }
}

/// <summary>A TextWriter that hands each complete line to the runner's log (prefixed, on stderr).</summary>
internal sealed class LogLineWriter(RunnerLog log) : TextWriter
{
    private readonly StringBuilder _line = new();
    public override Encoding Encoding => Encoding.UTF8;

    public override void Write(char value)
    {
        if (value == '\n')
        {
            log.Line(_line.ToString().TrimEnd('\r'));
            _line.Clear();
        }
        else _line.Append(value);
    }

    public override void Flush()
    {
        if (_line.Length == 0) return;
        log.Line(_line.ToString());
        _line.Clear();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) Flush();
        base.Dispose(disposing);
    }
}
