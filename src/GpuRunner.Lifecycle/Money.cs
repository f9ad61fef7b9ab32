namespace GpuRunner.Lifecycle;

/// <summary>
/// Money is integer micro-USD (1 USD = 1,000,000). The one rounding rule, used everywhere (README "Rounding rule"):
/// per period, per Space and per (billed flavor, hourly price): minutes = ceil(metered ms / 60,000) and
/// amount = ceil(minutes × hourly micro-USD / 60). Only the final line amount is rounded (up, to a whole micro-USD),
/// so a per-minute rate that is not a whole micro-USD (e.g. $4.13/h) never accumulates rounding per minute.
/// </summary>
public static class Money
{
    public const long MicroPerUsd = 1_000_000;

    public static long BilledMinutes(long meteredMs) => meteredMs <= 0 ? 0 : (meteredMs + 59_999) / 60_000;

    public static long Amount(long minutes, long hourlyMicroUsd)
    {
        if (minutes <= 0 || hourlyMicroUsd <= 0) return 0;
        var product = checked(minutes * hourlyMicroUsd);
        return (product + 59) / 60;
    }

    /// <summary>The advertised per-minute rate (hardware list): ceil(hourly / 60).</summary>
    public static long PerMinute(long hourlyMicroUsd) => hourlyMicroUsd <= 0 ? 0 : (hourlyMicroUsd + 59) / 60;

    /// <summary>Exact decimal USD for display/JSON (decimal, never double).</summary>
    public static decimal ToUsd(long micro) => micro / (decimal)MicroPerUsd;

    public static string Format(long micro) => "$" + ToUsd(micro).ToString("0.00####", System.Globalization.CultureInfo.InvariantCulture);
}
