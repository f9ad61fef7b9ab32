using GpuRunner.Core.Pages;
using GpuRunner.Core.Storage;
using GpuRunner.Lifecycle;

namespace GpuRunner.Pages.Tests;

public sealed class UsageByDayTests
{
    private static readonly long Nov1 = new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds();
    private static readonly long Dec1 = new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds();
    private const long Min = 60_000;

    private static LedgerRow Row(long start, long end, string flavor = "t4-medium", long hourly = 900_000, int sign = 1) =>
        new(new UsageInterval("a/b", "u", "a", flavor, flavor, hourly, start, end), sign, "metered", end);

    [Fact]
    public void An_interval_across_midnight_is_split_between_the_two_days()
    {
        var start = Nov1 + 86_400_000 - 30 * Min; // Nov 1 23:30 → Nov 2 01:00
        var days = UsageByDay.Compute([Row(start, start + 90 * Min)], null, Dec1, Nov1, Dec1);
        Assert.Equal(2, days.Count);
        Assert.Equal((new DateOnly(2026, 11, 1), 30L, 450_000L), (days[0].Day, days[0].Minutes, days[0].CostMicroUsd));
        Assert.Equal((new DateOnly(2026, 11, 2), 60L, 900_000L), (days[1].Day, days[1].Minutes, days[1].CostMicroUsd));
    }

    [Fact]
    public void Compensations_cancel_rows_and_the_open_interval_counts_up_to_now()
    {
        var rows = new[] { Row(Nov1, Nov1 + 10 * Min), Row(Nov1, Nov1 + 10 * Min, sign: -1), Row(Nov1, Nov1 + 5 * Min) };
        var open = new OpenInterval(Nov1 + 60 * Min, "t4-small", "t4-small", 600_000);
        var days = UsageByDay.Compute(rows, open, Nov1 + 61 * Min + 1, Nov1, Dec1);
        Assert.Equal(2, days.Count);
        var t4m = Assert.Single(days, d => d.Flavor == "t4-medium");
        Assert.Equal(5, t4m.Minutes);
        var t4s = Assert.Single(days, d => d.Flavor == "t4-small");
        Assert.Equal(2, t4s.Minutes); // 1 min + 1 ms rounds up, as on invoices
        Assert.Equal(20_000, t4s.CostMicroUsd);
    }

    [Fact]
    public void Time_outside_the_period_is_not_shown()
    {
        var days = UsageByDay.Compute([Row(Nov1 - 60 * Min, Nov1 + 15 * Min)], null, Dec1, Nov1, Dec1);
        Assert.Equal(15, Assert.Single(days).Minutes);
    }
}
