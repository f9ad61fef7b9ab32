namespace GpuRunner.Diagnostics.Smoke;

/// <summary>Judges the telemetry of a sustained GEMM: hardware slowdown, new ECC errors, clock drops.</summary>
public static class StabilityJudge
{
    /// <summary>A sample whose SM clock is under this share of the run's median is a clock drop. Power capping under
    /// a full GEMM moves clocks by 10-20 %; a drop past 25 % is what a thermal or power event looks like.</summary>
    public const double ClockDropFraction = 0.75;

    public sealed record Result(SmokeStatus Status, string Evidence, SmokeDiagnosis? Diagnosis, double? MinSmClockMHz);

    public static Result Judge(IReadOnlyList<(double T, TelemetrySample S)> samples, TelemetrySample before, TelemetrySample after)
    {
        var clocks = samples.Where(s => s.S.SmClockMHz is not null).Select(s => (s.T, Mhz: s.S.SmClockMHz!.Value)).ToList();
        var reasons = samples.SelectMany(s => s.S.ThrottleReasons ?? []).Distinct().Order().ToList();
        var temps = samples.Select(s => s.S.TemperatureC).OfType<double>().ToList();
        var power = samples.Select(s => s.S.PowerW).OfType<double>().ToList();
        double? median = clocks.Count > 0 ? SmokeRunner.Median(clocks.Select(c => c.Mhz).ToList()) : null;
        double? min = clocks.Count > 0 ? clocks.Min(c => c.Mhz) : null;
        var evidence = $"{samples.Count} samples; SM clock median {Show(median)} min {Show(min)} MHz; " +
                       $"temperature max {Show(temps.Count > 0 ? temps.Max() : null)} C; power max {Show(power.Count > 0 ? power.Max() : null)} W; " +
                       $"throttle reasons seen: {(reasons.Count == 0 ? "none" : string.Join(", ", reasons))}";

        if (after.EccVolatileUncorrected > (before.EccVolatileUncorrected ?? 0))
            return new(SmokeStatus.Fail, evidence + $"; uncorrectable ECC errors {before.EccVolatileUncorrected} -> {after.EccVolatileUncorrected}",
                new("uncorrectable memory errors appeared under load", "stop using this GPU; report it to the provider"), min);
        if (reasons.Any(r => r is "hw_slowdown" or "hw_thermal_slowdown" or "hw_power_brake_slowdown"))
            return new(SmokeStatus.Fail, evidence,
                new("hardware slowdown under load (thermal or power brake)", "ask the provider to check cooling and power of this GPU"), min);
        if (samples.Count == 0 || clocks.Count == 0)
            return new(SmokeStatus.Warn, evidence, new("no clock telemetry from NVML during the run", "check that NVML works (gpurunner detect)"), min);
        var drop = clocks.FirstOrDefault(c => c.Mhz < ClockDropFraction * median!.Value);
        if (drop != default)
            return new(SmokeStatus.Warn, evidence + $"; clock drop to {drop.Mhz:0} MHz at {drop.T:0} s",
                new($"SM clock fell under {ClockDropFraction:P0} of its median", "check temperature and power readings around that time (--plot)"), min);
        if (reasons.Contains("sw_thermal_slowdown"))
            return new(SmokeStatus.Warn, evidence, new("the driver cut clocks for temperature under load", "check cooling / airflow"), min);
        return new(SmokeStatus.Pass, evidence, null, min);
    }

    private static string Show(double? v) => v is { } x ? SmokeFormat.Number(x) : "n/a";
}
