using System.CommandLine;
using System.Text.Json;
using GpuRunner.Cli.Infrastructure;
using GpuRunner.Diagnostics.Catalogue;
using GpuRunner.Diagnostics.Checks;
using GpuRunner.Diagnostics.Requirements;
using GpuRunner.Native.Loading;
using GpuRunner.Native.Nvml;

namespace GpuRunner.Cli.Commands;

/// <summary>
/// `gpurunner requirements check FILE [--driver-cuda X.Y]`: can the CUDA builds a requirements file pins use the
/// GPU on this driver? Exit 0 yes (perhaps with warnings), 1 some cannot, 2 unreadable file or bad input.
/// </summary>
public static class RequirementsCommand
{
    /// <summary>The driver's CUDA version and where it came from; null when no driver can be found.</summary>
    public delegate (CudaVersion Cuda, string Source)? DriverProbe();

    public static Command Create(IConsole console, DriverProbe? probe = null)
    {
        var file = new Argument<string>("FILE") { Description = "A pip requirements file (requirements.txt)." };
        var driverCuda = new Option<string?>("--driver-cuda")
        {
            Description = "The CUDA version the driver supports (nvidia-smi's \"CUDA Version\", e.g. 12.2). Default: the detected driver's.",
            HelpName = "X.Y",
        };
        var check = new Command("check", "Check that the CUDA builds a requirements file pins can use the GPU on a driver.");
        check.Arguments.Add(file);
        check.Options.Add(driverCuda);
        check.SetHandler(console, (parse, _) =>
            Task.FromResult(Run(console, parse.GetValue(file)!, parse.GetValue(driverCuda), parse.GetValue(CommonOptions.Json), probe ?? DetectDriver)));

        var command = new Command("requirements", "Preflight a requirements.txt against the CUDA driver before you deploy.");
        command.Subcommands.Add(check);
        return command;
    }

    // Requirement lines are full of '+', '<' and '>': keep them readable ("torch==2.3.1+cu121", not "\u002B").
    private static readonly RequirementsJsonContext ReadableJson = new(new System.Text.Json.JsonSerializerOptions(RequirementsJsonContext.Default.Options)
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });

    private static ReturnCode Run(IConsole console, string path, string? driverOption, bool json, DriverProbe probe)
    {
        CudaVersion driver;
        string source;
        if (driverOption is not null)
        {
            driver = CudaVersion.TryParse(driverOption)
                ?? throw new CommandException($"--driver-cuda '{driverOption}' is not a CUDA version like 12.2");
            source = "--driver-cuda";
        }
        else
        {
            (driver, source) = probe() ?? throw new CommandException(
                "no NVIDIA driver detected (libnvidia-ml.so.1 does not load, no /proc/driver/nvidia/version); pass --driver-cuda X.Y (nvidia-smi's \"CUDA Version\")");
        }

        ParsedRequirements parsed;
        try { parsed = RequirementsParser.ParseFile(path); }
        catch (RequirementsException e) { throw new CommandException(e.Message, ReturnCode.UsageError, e); }

        var report = CudaPreflight.Default().Check(parsed, driver, path, source);
        switch (OutputStyles.For(console, json))
        {
            case OutputStyle.Json: console.Out.WriteLine(JsonSerializer.Serialize(report, ReadableJson.PreflightReport)); break;
            case OutputStyle.Rich: Rendering.RequirementsRich.Write(console, report, VerdictLine(report)); break;
            default: Print(console, report); break;
        }
        return report.Verdict == "FAIL" ? ReturnCode.CheckFailed : ReturnCode.Ok;
    }

    private static void Print(IConsole console, PreflightReport report)
    {
        var o = console.Out;
        o.WriteLine($"requirements {report.File} against a CUDA {report.DriverCuda} driver ({report.DriverSource})");
        foreach (var i in report.Items)
        {
            o.WriteLine($"{Status(i.Status),-4} {i.Package}  {i.File}:{i.Line}  {i.Requirement}");
            if (i.Build is not null) o.WriteLine($"     build:   {i.Build}");
            if (i.RequiredDriver is not null) o.WriteLine($"     needs:   {i.RequiredDriver}");
            o.WriteLine($"     why:     {i.Message}");
            for (var k = 0; k < i.InsteadUse.Count; k++)
                o.WriteLine($"     {(k == 0 ? "instead:" : "        ")} {i.InsteadUse[k]}");
        }
        foreach (var note in report.Notes) o.WriteLine($"note {note}");
        o.WriteLine(VerdictLine(report));
    }

    /// <summary>The closing line, the same in every style: "verdict: FAIL: 1 of 3 CUDA-related requirements ...".</summary>
    private static string VerdictLine(PreflightReport report)
    {
        var gpu = report.Items.Count(i => i.Status != PreflightStatus.Skip);
        var failed = report.Items.Count(i => i.Status == PreflightStatus.Fail);
        var warned = report.Items.Count(i => i.Status == PreflightStatus.Warn);
        var what = gpu == 0
            ? "no CUDA-related requirement found"
            : failed > 0 ? $"{failed} of {gpu} CUDA-related requirements cannot use the GPU on this driver"
            : warned > 0 ? $"all {gpu} CUDA-related requirements can use the GPU; {warned} with a warning"
            : $"all {gpu} CUDA-related requirements can use the GPU";
        return $"verdict: {report.Verdict}: {what} ({report.OtherRequirements} other requirements not checked)";
    }

    private static string Status(PreflightStatus s) => s switch
    {
        PreflightStatus.Ok => "OK",
        PreflightStatus.Warn => "WARN",
        PreflightStatus.Fail => "FAIL",
        _ => "SKIP",
    };

    /// <summary>
    /// The driver's own answer (NVML's nvmlSystemGetCudaDriverVersion, under a deadline so a wedged driver cannot hang
    /// the command); else the kernel module's version file turned into the newest CUDA the table says it supports.
    /// </summary>
    private static (CudaVersion, string)? DetectDriver()
    {
        string? nvmlProblem = null;
        if (NativeLoader.Default.Nvml.Loaded)
        {
            var (completed, value, error) = Worker.Run(() =>
            {
                using var session = NvmlSession.Open();
                return (Driver: session.DriverVersion(), Cuda: session.CudaDriverVersion());
            }, TimeSpan.FromSeconds(10), "driver");
            if (completed && error is null)
                return (CudaVersion.FromDriverInteger(value.Cuda), $"driver {value.Driver}, NVML");
            nvmlProblem = completed ? error!.Message : "NVML did not answer within 10 s";
        }
        try
        {
            var text = File.ReadAllText("/proc/driver/nvidia/version");
            var match = System.Text.RegularExpressions.Regex.Match(text, @"Kernel Module\s+(?:for \S+\s+)?(\d+\.\d+(?:\.\d+)?)");
            if (match.Success && CudaDriverTable.LoadDefault().HighestCudaFor(match.Groups[1].Value) is { } cuda)
                return (cuda, $"driver {match.Groups[1].Value} from /proc/driver/nvidia/version; CUDA by requirements/cuda-driver.json");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        if (nvmlProblem is not null)
            throw new CommandException($"cannot ask the NVIDIA driver for its CUDA version ({nvmlProblem}); pass --driver-cuda X.Y");
        return null;
    }
}
