using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace GpuRunner.Core.Services;

/// <summary>Runs the time rules (sleep after inactivity, lost heartbeats -> failure -> auto-pause) on the injected
/// clock, so tests move time with a fake TimeProvider instead of sleeping. With several core instances on one
/// PostgreSQL database, one of them (the leader) runs the rules; another takes over at its next tick when the leader
/// dies.</summary>
public sealed class TimeRulesService(CoreService core, CoreOptions options, ILogger<TimeRulesService> log) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.TickInterval, options.Clock);
        var lastPrune = long.MinValue;
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                // Heartbeat retention, hourly (and at the first tick): bounded batches through the writer.
                if (core.NowMs - lastPrune >= 3_600_000)
                {
                    lastPrune = core.NowMs;
                    try
                    {
                        var pruned = await core.PruneHeartbeatsAsync(options.HeartbeatRetention, stoppingToken);
                        if (pruned > 0) log.LogInformation("retention: {Count} heartbeat rows older than {Days} d deleted", pruned, options.HeartbeatRetention.TotalDays);
                    }
                    catch (Exception e) when (e is not OperationCanceledException)
                    {
                        log.LogError(e, "heartbeat retention failed; retrying in an hour");
                    }
                }
                try
                {
                    // Several instances on one database: only the elected one scans (the store's leadership lock).
                    if (!await core.Store.TryLeadAsync(stoppingToken)) continue;
                    var fired = await core.TickAsync(stoppingToken);
                    if (fired > 0) log.LogInformation("time rules: {Count} Space(s) changed", fired);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    log.LogError(e, "time rules failed; retrying at the next tick");
                }
            }
        }
        catch (OperationCanceledException) { }
    }
}
