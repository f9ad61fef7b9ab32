using System.Diagnostics;
using System.Globalization;
using System.Text;
using GpuRunner.Core.Api;
using GpuRunner.Core.Services;
using GpuRunner.Core.Storage;
using GpuRunner.Lifecycle;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace GpuRunner.Core.Metrics;

/// <summary>
/// Operator endpoints: `/metrics` (Prometheus text format) and `/readyz` (ready = the store answers). `/healthz` is
/// the core's own (CoreHost). Ingest counters come from a middleware around the runner routes, so the API code
/// stays free of metrics calls.
/// </summary>
public static class MetricsEndpoints
{
    private const string RunnerPrefix = "/api/runner/spaces";
    /// <summary>A readiness probe must answer quickly even when the database hangs.</summary>
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(2);

    public static WebApplication MapMetrics(this WebApplication app)
    {
        var core = app.Services.GetRequiredService<CoreService>();
        var metrics = new CoreMetrics();
        var gauges = new StoreGauges(core);

        app.Use(async (ctx, next) =>
        {
            if (!HttpMethods.IsPost(ctx.Request.Method) || !ctx.Request.Path.StartsWithSegments(RunnerPrefix, out var rest))
            {
                await next(ctx);
                return;
            }
            var started = Stopwatch.GetTimestamp();
            var status = 500;
            try
            {
                await next(ctx);
                status = ctx.Response.StatusCode;
            }
            catch (Exception e)
            {
                // This middleware runs inside the error mapper: classify the exception as it will be answered.
                status = e switch
                {
                    LifecycleException l => ApiErrors.StatusOf(l.Kind),
                    ApiException a => a.Status,
                    BadHttpRequestException b => b.StatusCode,
                    _ => 500,
                };
                throw;
            }
            finally
            {
                // /{ns}/{name}/{kind}
                var parts = rest.Value?.Split('/', StringSplitOptions.RemoveEmptyEntries) ?? [];
                metrics.Ingested(parts.Length == 3 ? parts[2] : "other", status, Stopwatch.GetElapsedTime(started).TotalSeconds);
            }
        });

        app.MapGet("/metrics", async (HttpContext ctx) =>
        {
            var sb = new StringBuilder(4096);
            metrics.WriteIngest(sb);
            WriteStore(sb, core.Store);
            await gauges.WriteAsync(sb, ctx.RequestAborted);
            app.Services.GetRequiredService<GpuTelemetry>().Write(sb);
            return Results.Text(sb.ToString(), "text/plain; version=0.0.4; charset=utf-8");
        });

        app.MapGet("/readyz", async (HttpContext ctx) =>
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted);
            cts.CancelAfter(ProbeTimeout);
            try
            {
                await core.Store.GetSpaceAsync("readyz/probe", cts.Token);
                return Results.Json(new Dictionary<string, object?> { ["status"] = "ready", ["store"] = core.Store.Kind }, ApiJson.Object);
            }
            catch (Exception e) when (!ctx.RequestAborted.IsCancellationRequested)
            {
                var why = e is OperationCanceledException ? $"no answer within {ProbeTimeout.TotalSeconds:0} s" : e.Message;
                return Results.Json(new Dictionary<string, object?>
                {
                    ["status"] = "unavailable", ["store"] = core.Store.Kind, ["error"] = $"the store ({core.Store.Describe}) is not reachable: {why}",
                }, ApiJson.Object, statusCode: StatusCodes.Status503ServiceUnavailable);
            }
        });
        return app;
    }

    /// <summary>
    /// Series read from the store at scrape time: Spaces per stage, Spaces billing now, billed minutes and charges of
    /// the current month (UTC) per flavor. Not cached: a scrape every 15 s costs two indexed queries.
    /// </summary>
    /// <summary>The writer's conflict counters and, on PostgreSQL, this instance's part in a multi-instance setup.</summary>
    private static void WriteStore(StringBuilder sb, ICoreStore store)
    {
        if (store is not SqlCoreStore sql) return;
        var inv = CultureInfo.InvariantCulture;
        CoreMetrics.Help(sb, "gpurunner_store_deadlocks_total", "counter", "Deadlocks and serialization failures the database reported to this instance's writer (each retried).");
        sb.Append(inv, $"gpurunner_store_deadlocks_total {sql.Deadlocks}\n");
        CoreMetrics.Help(sb, "gpurunner_store_retries_total", "counter", "Write batches run again after a transient failure or split to isolate a failing write.");
        sb.Append(inv, $"gpurunner_store_retries_total {sql.Retries}\n");
        if (store is not PostgresCoreStore pg) return;
        CoreMetrics.Help(sb, "gpurunner_time_rules_leader", "gauge", "1 on the one instance that runs the time rules.");
        sb.Append(inv, $"gpurunner_time_rules_leader {(pg.IsLeader ? 1 : 0)}\n");
        CoreMetrics.Help(sb, "gpurunner_cache_invalidation_listening", "gauge", "1 while this instance receives the other instances' cache invalidations.");
        sb.Append(inv, $"gpurunner_cache_invalidation_listening {(pg.Listening ? 1 : 0)}\n");
    }

    private sealed class StoreGauges(CoreService core)
    {
        public async Task WriteAsync(StringBuilder sb, CancellationToken ct) => sb.Append(await RenderAsync(core.NowMs, ct));

        private async Task<string> RenderAsync(long now, CancellationToken ct)
        {
            var sb = new StringBuilder();
            var inv = CultureInfo.InvariantCulture;
            IReadOnlyList<SpaceState> spaces;
            Invoice month;
            var t = DateTimeOffset.FromUnixTimeMilliseconds(now);
            var from = new DateTimeOffset(t.Year, t.Month, 1, 0, 0, 0, TimeSpan.Zero);
            try
            {
                spaces = await core.Store.ListSpacesAsync(null, ct);
                month = await core.InvoiceAsync("metrics", from.ToUnixTimeMilliseconds(), from.AddMonths(1).ToUnixTimeMilliseconds(), null, null, ct);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                CoreMetrics.Help(sb, "gpurunner_store_up", "gauge", "1 when the store answered this scrape's queries.");
                sb.Append("gpurunner_store_up 0\n");
                return sb.ToString();
            }
            CoreMetrics.Help(sb, "gpurunner_store_up", "gauge", "1 when the store answered this scrape's queries.");
            sb.Append("gpurunner_store_up 1\n");

            CoreMetrics.Help(sb, "gpurunner_spaces", "gauge", "Spaces per stage (every stage of the Hub's enum, 0 included).");
            var byStage = spaces.GroupBy(s => s.Stage).ToDictionary(g => g.Key, g => g.Count());
            foreach (var stage in Enum.GetValues<Stage>())
                sb.Append(inv, $"gpurunner_spaces{{stage=\"{stage.ToWire()}\"}} {byStage.GetValueOrDefault(stage)}\n");

            CoreMetrics.Help(sb, "gpurunner_events_held", "gauge", "Runner events stored but held (they do not fit their Space's history yet), all Spaces.");
            sb.Append(inv, $"gpurunner_events_held {spaces.Sum(s => s.HeldCount)}\n");
            CoreMetrics.Help(sb, "gpurunner_events_dead_letters", "gauge", "Held events given up on after the hold bound (listed per Space by GET /api/runner/spaces/NS/NAME/held).");
            sb.Append(inv, $"gpurunner_events_dead_letters {spaces.Sum(s => s.DeadLetterCount)}\n");
            CoreMetrics.Help(sb, "gpurunner_space_dead_letters", "gauge", "Dead letters of each Space that has any.");
            foreach (var s in spaces.Where(s => s.DeadLetterCount > 0).OrderBy(s => s.Id, StringComparer.Ordinal))
                sb.Append(inv, $"gpurunner_space_dead_letters{{space=\"{CoreMetrics.Label(s.Id)}\"}} {s.DeadLetterCount}\n");

            CoreMetrics.Help(sb, "gpurunner_spaces_billing", "gauge", "Spaces with an open billing interval, by the flavor they are billed as.");
            foreach (var g in spaces.Where(s => s.Open is not null).GroupBy(s => s.Open!.BilledFlavor).OrderBy(g => g.Key, StringComparer.Ordinal))
                sb.Append(inv, $"gpurunner_spaces_billing{{flavor=\"{CoreMetrics.Label(g.Key)}\"}} {g.Count()}\n");

            var perFlavor = month.Lines.GroupBy(l => l.Flavor).OrderBy(g => g.Key, StringComparer.Ordinal)
                .Select(g => (Flavor: g.Key, Minutes: g.Sum(l => l.Minutes), Charged: g.Sum(l => l.ChargedMicroUsd), Owed: g.Sum(l => l.OwedMicroUsd))).ToArray();
            var period = from.ToString("yyyy-MM", inv);
            CoreMetrics.Help(sb, "gpurunner_billed_minutes", "gauge",
                "Billed minutes this calendar month (UTC) per billed flavor, rounded per Space as on invoices; includes running Spaces up to now.");
            foreach (var f in perFlavor)
                sb.Append(inv, $"gpurunner_billed_minutes{{flavor=\"{CoreMetrics.Label(f.Flavor)}\",period=\"{period}\"}} {f.Minutes}\n");
            CoreMetrics.Help(sb, "gpurunner_charged_usd", "gauge", "Charges this calendar month (UTC) per billed flavor, before grants.");
            foreach (var f in perFlavor)
                sb.Append(inv, $"gpurunner_charged_usd{{flavor=\"{CoreMetrics.Label(f.Flavor)}\",period=\"{period}\"}} {Money.ToUsd(f.Charged).ToString(inv)}\n");
            CoreMetrics.Help(sb, "gpurunner_owed_usd", "gauge", "Amount owed this calendar month (UTC) per billed flavor, after grants.");
            foreach (var f in perFlavor)
                sb.Append(inv, $"gpurunner_owed_usd{{flavor=\"{CoreMetrics.Label(f.Flavor)}\",period=\"{period}\"}} {Money.ToUsd(f.Owed).ToString(inv)}\n");
            return sb.ToString();
        }
    }
}
