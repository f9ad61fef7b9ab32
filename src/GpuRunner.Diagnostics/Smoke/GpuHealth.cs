namespace GpuRunner.Diagnostics.Smoke;

/// <summary>
/// The NVML facts the health checks judge. Every field is nullable: null means NVML did not say (not supported on
/// this card, or the call failed), which the checks report as such instead of guessing.
/// </summary>
public sealed record GpuHealthFacts
{
    public bool? EccEnabled { get; init; }
    public bool? EccPendingEnabled { get; init; }
    public ulong? EccVolatileUncorrected { get; init; }
    public ulong? EccAggregateUncorrected { get; init; }
    public ulong? RetiredPagesSingleBit { get; init; }
    public ulong? RetiredPagesDoubleBit { get; init; }
    public bool? RetiredPagesPending { get; init; }
    public uint? RowRemapCorrected { get; init; }
    public uint? RowRemapUncorrected { get; init; }
    public bool? RowRemapPending { get; init; }
    public bool? RowRemapFailure { get; init; }
    /// <summary>Active clock-event (throttle) reasons as the native layer names them (ThrottleReasonNames): gpu_idle,
    /// applications_clocks_setting, sw_power_cap, hw_slowdown, sync_boost, sw_thermal_slowdown, hw_thermal_slowdown,
    /// hw_power_brake_slowdown, display_clock_setting.</summary>
    public IReadOnlyList<string>? ThrottleReasons { get; init; }
    public int? TemperatureC { get; init; }
    /// <summary>nvmlDeviceGetTemperatureThreshold(SLOWDOWN), where the card gives an absolute threshold.</summary>
    public int? SlowdownThresholdC { get; init; }
    /// <summary>Hopper and newer report a margin instead ("GPU T.Limit Temp" in nvidia-smi): degrees left before the
    /// card's limit; slowdown starts at <see cref="SlowdownMarginC"/> (e.g. -2 on the H200 here).</summary>
    public int? TemperatureMarginC { get; init; }
    public int? SlowdownMarginC { get; init; }
    public int? PcieGen { get; init; }
    public int? PcieGenMax { get; init; }
    public int? PcieWidth { get; init; }
    public int? PcieWidthMax { get; init; }
    public bool? PersistenceMode { get; init; }
}

/// <summary>Judges <see cref="GpuHealthFacts"/>: one result per health check, each with its evidence.</summary>
public static class HealthEvaluator
{
    /// <summary>Degrees of headroom to the slowdown threshold under which temperature is a WARN.</summary>
    public const int TemperatureWarnHeadroomC = 10;
    /// <summary>DCGM's limit: 60 or more retired pages is a card to replace.</summary>
    public const ulong RetiredPagesFailCount = 60;

    public static IReadOnlyList<SmokeCheckResult> Evaluate(int gpu, GpuHealthFacts f, bool underLoad = false) =>
    [
        Ecc(gpu, f), RetiredPages(gpu, f), RowRemap(gpu, f), Throttle(gpu, f, underLoad), Temperature(gpu, f),
        Pcie(gpu, f, underLoad), Persistence(gpu, f),
    ];

    public static SmokeCheckResult Ecc(int gpu, GpuHealthFacts f)
    {
        var r = New("health.ecc", "ECC mode and uncorrectable errors", gpu);
        if (f.EccEnabled is null)
            return Set(r, SmokeStatus.Skip, "ECC not reported by NVML (consumer or GDDR card without ECC)");
        var counts = $"volatile uncorrectable {Show(f.EccVolatileUncorrected)}, aggregate uncorrectable {Show(f.EccAggregateUncorrected)}";
        if (f.EccVolatileUncorrected > 0)
            return Set(r, SmokeStatus.Fail, $"ECC {(f.EccEnabled.Value ? "on" : "off")}; {counts}",
                new("uncorrectable memory errors since the driver loaded: data on this GPU may be corrupt",
                    "stop workloads, ask the provider to reset or replace the GPU (Xid 48/63/64 in the host log)"));
        if (!f.EccEnabled.Value)
            return Set(r, SmokeStatus.Warn, $"ECC off{(f.EccPendingEnabled == true ? " (on after reset)" : "")}; {counts}",
                new("ECC is supported but disabled: memory errors go undetected",
                    "ask the provider to enable ECC (nvidia-smi -e 1, then a GPU reset)"));
        if (f.EccAggregateUncorrected > 0)
            return Set(r, SmokeStatus.Warn, $"ECC on; {counts}",
                new("this GPU had uncorrectable errors in the past", "check retired pages / row remaps; watch for new errors"));
        return Set(r, SmokeStatus.Pass, $"ECC on; {counts}");
    }

    public static SmokeCheckResult RetiredPages(int gpu, GpuHealthFacts f)
    {
        var r = New("health.retired-pages", "Retired pages", gpu);
        if (f.RetiredPagesSingleBit is null && f.RetiredPagesDoubleBit is null && f.RetiredPagesPending is null)
            return Set(r, SmokeStatus.Skip, "retired pages not reported (Ampere and newer remap rows instead)");
        var total = (f.RetiredPagesSingleBit ?? 0) + (f.RetiredPagesDoubleBit ?? 0);
        var ev = $"single-bit {Show(f.RetiredPagesSingleBit)}, double-bit {Show(f.RetiredPagesDoubleBit)}, pending {Show(f.RetiredPagesPending)}";
        if (f.RetiredPagesPending == true)
            return Set(r, SmokeStatus.Fail, ev, new("a page is waiting to be retired", "the GPU needs a reset before it is used"));
        if (total >= RetiredPagesFailCount)
            return Set(r, SmokeStatus.Fail, ev, new($"{total} retired pages (limit {RetiredPagesFailCount})", "ask the provider to replace the GPU"));
        if (f.RetiredPagesDoubleBit > 0)
            return Set(r, SmokeStatus.Warn, ev, new("pages were retired after double-bit errors", "watch for new errors"));
        return Set(r, SmokeStatus.Pass, ev);
    }

    public static SmokeCheckResult RowRemap(int gpu, GpuHealthFacts f)
    {
        var r = New("health.row-remap", "Row remapping", gpu);
        if (f.RowRemapPending is null && f.RowRemapFailure is null)
            return Set(r, SmokeStatus.Skip, "row remapping not reported (pre-Ampere card)");
        var ev = $"corrected {Show(f.RowRemapCorrected)}, uncorrected {Show(f.RowRemapUncorrected)}, pending {Show(f.RowRemapPending)}, failure {Show(f.RowRemapFailure)}";
        if (f.RowRemapFailure == true)
            return Set(r, SmokeStatus.Fail, ev, new("a row remap failed: the memory has no spare rows left", "ask the provider to replace the GPU"));
        if (f.RowRemapPending == true)
            return Set(r, SmokeStatus.Warn, ev, new("a row remap is pending", "the GPU needs a reset to apply it"));
        if (f.RowRemapUncorrected > 0)
            return Set(r, SmokeStatus.Warn, ev, new("rows were remapped after uncorrectable errors", "watch for new errors"));
        return Set(r, SmokeStatus.Pass, ev);
    }

    /// <summary>HW slowdown (and its thermal / power-brake parts) is a finding at any time; software thermal slowdown
    /// too. The software power cap is normal under load (the GPU runs at its power limit) but a finding at idle.</summary>
    public static SmokeCheckResult Throttle(int gpu, GpuHealthFacts f, bool underLoad)
    {
        var r = New("health.throttle", "Throttle reasons", gpu);
        if (f.ThrottleReasons is null) return Set(r, SmokeStatus.Skip, "throttle reasons not reported by NVML");
        var active = f.ThrottleReasons;
        var ev = active.Count == 0 ? "none active" : "active: " + string.Join(", ", active);
        if (active.Any(a => a is "hw_slowdown" or "hw_thermal_slowdown" or "hw_power_brake_slowdown"))
            return Set(r, SmokeStatus.Fail, ev, new("hardware slowdown: the GPU is too hot or its power supply signals a brake",
                "ask the provider to check cooling and power of this GPU; clocks are cut by half or more"));
        if (active.Contains("sw_thermal_slowdown"))
            return Set(r, SmokeStatus.Warn, ev, new("the driver lowers clocks to keep the temperature in range", "check cooling / airflow"));
        if (active.Contains("sw_power_cap") && !underLoad)
            return Set(r, SmokeStatus.Warn, ev, new("power-capped while idle: the power limit may be set very low", "compare power.limit with the card's default"));
        return Set(r, SmokeStatus.Pass, ev);
    }

    public static SmokeCheckResult Temperature(int gpu, GpuHealthFacts f)
    {
        var r = New("health.temperature", "Temperature against the slowdown threshold", gpu);
        int? headroom = null;
        string ev;
        if (f.TemperatureC is { } t && f.SlowdownThresholdC is { } s && s > 0)
        {
            headroom = s - t;
            ev = $"{t} C, slowdown at {s} C ({headroom} C headroom)";
        }
        else if (f.TemperatureMarginC is { } m)
        {
            headroom = m - (f.SlowdownMarginC ?? 0);
            ev = $"{(f.TemperatureC is { } tc ? $"{tc} C, " : "")}{m} C below the limit, slowdown at margin {f.SlowdownMarginC ?? 0} C ({headroom} C headroom)";
        }
        else if (f.TemperatureC is { } only)
            return Set(r, SmokeStatus.Pass, $"{only} C (no slowdown threshold reported)");
        else
            return Set(r, SmokeStatus.Skip, "temperature not reported by NVML");

        if (headroom <= 0)
            return Set(r, SmokeStatus.Fail, ev, new("at or past the slowdown threshold: clocks are being cut", "check cooling of this GPU"));
        if (headroom < TemperatureWarnHeadroomC)
            return Set(r, SmokeStatus.Warn, ev, new($"less than {TemperatureWarnHeadroomC} C below slowdown", "check cooling; load will push it over"));
        return Set(r, SmokeStatus.Pass, ev);
    }

    /// <summary>A narrower link than the card's maximum is a finding whenever seen. A lower generation is normal at
    /// idle (the link trains down to save power) and a finding only when read under load (during a transfer).</summary>
    public static SmokeCheckResult Pcie(int gpu, GpuHealthFacts f, bool underLoad)
    {
        var r = New("health.pcie", "PCIe link generation and width", gpu);
        if (f.PcieGen is null || f.PcieWidth is null) return Set(r, SmokeStatus.Skip, "PCIe link not reported by NVML");
        var ev = $"Gen{f.PcieGen} x{f.PcieWidth} (max Gen{Show(f.PcieGenMax)} x{Show(f.PcieWidthMax)}){(underLoad ? " under load" : " at idle")}";
        if (f.PcieWidth < f.PcieWidthMax)
            return Set(r, SmokeStatus.Warn, ev, new($"the link runs at x{f.PcieWidth} of x{f.PcieWidthMax}: host transfers are slower by that share",
                "ask the provider to reseat the card or move it to a full-width slot"));
        if (f.PcieGen < f.PcieGenMax)
            return underLoad
                ? Set(r, SmokeStatus.Warn, ev, new($"the link trained to Gen{f.PcieGen} of Gen{f.PcieGenMax} under load",
                    "ask the provider to check the slot / riser and BIOS PCIe settings"))
                : Set(r, SmokeStatus.Pass, ev + "; lower generation at idle is power saving");
        return Set(r, SmokeStatus.Pass, ev);
    }

    public static SmokeCheckResult Persistence(int gpu, GpuHealthFacts f)
    {
        var r = New("health.persistence", "Persistence mode", gpu);
        return f.PersistenceMode switch
        {
            null => Set(r, SmokeStatus.Skip, "persistence mode not reported"),
            true => Set(r, SmokeStatus.Pass, "enabled"),
            false => Set(r, SmokeStatus.Warn, "disabled",
                new("the driver unloads between processes: each start pays GPU initialisation and clocks may reset",
                    "ask the provider to run nvidia-persistenced (or nvidia-smi -pm 1 on the host)")),
        };
    }

    private static SmokeCheckResult New(string id, string title, int gpu) => new() { Id = id, Title = title, Gpu = gpu };

    private static SmokeCheckResult Set(SmokeCheckResult r, SmokeStatus s, string evidence, SmokeDiagnosis? d = null)
    {
        r.Status = s;
        r.Evidence = evidence;
        r.Diagnosis = d;
        return r;
    }

    private static string Show<T>(T? v) where T : struct => v?.ToString()?.ToLowerInvariant() ?? "n/a";
}
