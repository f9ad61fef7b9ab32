using System.Globalization;
using System.Text;
using GpuRunner.Lifecycle;

namespace GpuRunner.Core.Api;

/// <summary>JSON shapes of the API (see api-shapes.md for the Hub's part). Dictionaries keep key names exact.</summary>
public static class Views
{
    /// <summary>The Hub's runtime object; keys after `volumes` are our extra fields (the Hub client keeps them in `raw`).</summary>
    public static Dictionary<string, object?> Runtime(SpaceState s, SpaceMachine m, long nowMs)
    {
        var open = s.Open;
        return new()
        {
            ["stage"] = s.Stage.ToWire(),
            ["hardware"] = new Dictionary<string, object?> { ["current"] = s.CurrentFlavor, ["requested"] = s.RequestedFlavor },
            ["gcTimeout"] = s.SleepSeconds,
            ["storage"] = null,
            ["devMode"] = false,
            ["volumes"] = null,
            ["id"] = s.Id,
            ["author"] = s.Owner,
            ["sdk"] = s.Sdk,
            ["errorMessage"] = s.LastError,
            ["paused"] = s.Paused,
            ["pauseReason"] = s.PauseReason,
            ["sleepTimeEffective"] = m.EffectiveSleepSeconds(s),
            ["stageSince"] = Time.Format(s.StageSinceMs),
            ["runId"] = s.RunId,
            ["lastHeartbeat"] = s.LastHeartbeatAtMs is { } hb ? Time.Format(hb) : null,
            ["detectedHardware"] = s.DetectedFlavor,
            // The GPU fault of the platform that ended the run (docs/gpu-watch.md): billing closed at its `at`.
            ["platformFault"] = s.PlatformFault is { } pf
                ? new Dictionary<string, object?> { ["at"] = Time.Format(pf.AtMs), ["gpu"] = pf.Gpu, ["class"] = pf.Class, ["kind"] = pf.Kind, ["code"] = pf.Code, ["message"] = pf.Message }
                : null,
            ["hardwareMismatch"] = s.Mismatch is { } mm
                ? new Dictionary<string, object?>
                {
                    ["requested"] = mm.Requested, ["detected"] = mm.Detected, ["summary"] = mm.Summary, ["at"] = Time.Format(mm.AtMs),
                    ["billedAs"] = open?.BilledFlavor,
                }
                : null,
            ["billing"] = new Dictionary<string, object?>
            {
                ["billing"] = open is not null,
                ["flavor"] = open?.BilledFlavor,
                ["hourlyMicroUSD"] = open?.HourlyMicroUsd,
                ["since"] = open is null ? null : Time.Format(open.StartMs),
                ["openIntervalCostMicroUSD"] = open is null ? 0
                    : Money.Amount(Money.BilledMinutes(nowMs - open.StartMs), open.HourlyMicroUsd),
            },
        };
    }

    public static Dictionary<string, object?> Hardware(Flavor f) => new()
    {
        ["name"] = f.Id,
        ["prettyName"] = f.PrettyName,
        ["cpu"] = f.Cpu,
        ["ram"] = f.Ram,
        ["ephemeralStorage"] = f.Disk,
        ["accelerator"] = f.Accelerator is { } a
            ? new Dictionary<string, object?>
            {
                ["type"] = a.Type, ["model"] = a.Model, ["quantity"] = a.Quantity.ToString(CultureInfo.InvariantCulture),
                ["vram"] = a.Vram, ["manufacturer"] = a.Manufacturer,
            }
            : null,
        ["unitCostMicroUSD"] = Money.PerMinute(f.HourlyMicroUsd),
        ["unitCostUSD"] = Money.ToUsd(Money.PerMinute(f.HourlyMicroUsd)),
        ["unitLabel"] = "minute",
        ["hourlyCostMicroUSD"] = f.HourlyMicroUsd,
    };

    public static Dictionary<string, object?> Invoice(Invoice inv) => new()
    {
        ["scope"] = inv.Scope,
        ["from"] = Time.Format(inv.FromMs),
        ["to"] = Time.Format(inv.ToMs),
        ["provisional"] = inv.Provisional,
        ["currency"] = "USD",
        ["rounding"] = "per Space and flavor: minutes = ceil(metered seconds / 60); amount = ceil(minutes x hourly micro-USD / 60)",
        ["lines"] = inv.Lines.Select(l => new Dictionary<string, object?>
        {
            ["space"] = l.SpaceId, ["owner"] = l.Owner, ["flavor"] = l.Flavor, ["hourlyMicroUSD"] = l.HourlyMicroUsd,
            ["meteredSeconds"] = l.MeteredMs / 1000.0m, ["minutes"] = l.Minutes,
            ["chargedMicroUSD"] = l.ChargedMicroUsd, ["grantedMicroUSD"] = l.GrantedMicroUsd, ["owedMicroUSD"] = l.OwedMicroUsd,
            ["owedUSD"] = Money.ToUsd(l.OwedMicroUsd),
        }).ToArray(),
        ["chargedMicroUSD"] = inv.ChargedMicroUsd,
        ["grantedMicroUSD"] = inv.GrantedMicroUsd,
        ["owedMicroUSD"] = inv.OwedMicroUsd,
        ["owedUSD"] = Money.ToUsd(inv.OwedMicroUsd),
    };

    public static string InvoiceCsv(Invoice inv)
    {
        var sb = new StringBuilder("space,owner,flavor,hourly_usd,metered_seconds,minutes,charged_usd,granted_usd,owed_usd\n");
        static string Usd(long micro) => Money.ToUsd(micro).ToString("0.00####", CultureInfo.InvariantCulture);
        static string Csv(string v) => v.IndexOfAny([',', '"', '\n']) < 0 ? v : "\"" + v.Replace("\"", "\"\"") + "\"";
        foreach (var l in inv.Lines)
            sb.Append(CultureInfo.InvariantCulture,
                $"{Csv(l.SpaceId)},{Csv(l.Owner)},{Csv(l.Flavor)},{Usd(l.HourlyMicroUsd)},{l.MeteredMs / 1000.0m},{l.Minutes},{Usd(l.ChargedMicroUsd)},{Usd(l.GrantedMicroUsd)},{Usd(l.OwedMicroUsd)}\n");
        sb.Append(CultureInfo.InvariantCulture, $"TOTAL,,,,,,{Usd(inv.ChargedMicroUsd)},{Usd(inv.GrantedMicroUsd)},{Usd(inv.OwedMicroUsd)}\n");
        return sb.ToString();
    }
}
