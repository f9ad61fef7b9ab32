using GpuRunner.Core.Api;
using GpuRunner.Core.Metrics;
using GpuRunner.Core.Pages;
using GpuRunner.Core.Services;
using GpuRunner.Core.Storage;
using GpuRunner.Lifecycle;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace GpuRunner.Core;

/// <summary>Composes the core: store, domain, endpoint groups, error mapping and the time-rules service.</summary>
public static class CoreHost
{
    public static async Task<WebApplication> CreateAsync(ICoreStore store, CoreOptions o, Action<ILoggingBuilder>? logging = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.WebHost.UseUrls(o.Urls.Count > 0 ? [.. o.Urls] : ["http://127.0.0.1:8080"]);
        var maxConnections = o.MaxConnections ?? ConnectionLimits.Derive(ConnectionLimits.OpenFileLimit(), ConnectionLimits.OpenFiles());
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = o.MaxBodyBytes;
            k.Limits.MaxConcurrentConnections = maxConnections;
            k.Limits.MaxConcurrentUpgradedConnections = maxConnections;
            k.Limits.KeepAliveTimeout = o.KeepAliveTimeout;
            k.Limits.RequestHeadersTimeout = o.RequestHeadersTimeout;
            // A body must arrive at 240 bytes/s after a 5 s grace (Kestrel's default, stated so it stays): a
            // trickling client cannot hold a connection and a writer slot for minutes.
            k.Limits.MinRequestBodyDataRate = new Microsoft.AspNetCore.Server.Kestrel.Core.MinDataRate(240, TimeSpan.FromSeconds(5));
            k.Limits.MaxRequestHeadersTotalSize = 32 * 1024;
        });
        // Binding failures (?factory=maybe) throw BadHttpRequestException into ApiErrors, which answers JSON `error`
        // instead of an empty 400.
        builder.Services.Configure<Microsoft.AspNetCore.Routing.RouteHandlerOptions>(r => r.ThrowOnBadRequest = true);
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(c => { c.SingleLine = true; c.TimestampFormat = "yyyy-MM-ddTHH:mm:ssZ "; c.UseUtcTimestamp = true; });
        builder.Logging.SetMinimumLevel(LogLevel.Information);
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        // One warning per connection refused over the limit would let a flood fill the log (and the disk).
        builder.Logging.AddFilter("Microsoft.AspNetCore.Server.Kestrel.Connections", LogLevel.Error);
        logging?.Invoke(builder.Logging);

        // Source-generated metadata first: NativeAOT has no reflection-based serialization.
        builder.Services.ConfigureHttpJsonOptions(j =>
        {
            j.SerializerOptions.Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping;
            j.SerializerOptions.TypeInfoResolverChain.Insert(0, ApiJsonContext.Default);
        });
        var machine = new SpaceMachine(o.Catalogue, o.Policy);
        var core = new CoreService(store, machine, o.Clock) { Throttle = new AuthThrottle(o.Clock, o.MaxAuthFailures, o.AuthFailureWindow) };
        builder.Services.AddSingleton(o);
        builder.Services.AddSingleton(store);
        builder.Services.AddSingleton(machine);
        builder.Services.AddSingleton(core);
        builder.Services.AddSingleton(new Metrics.GpuTelemetry(o.Clock)); // GPU gauges and event counters, fed at ingest
        if (o.RunTimeRules) builder.Services.AddHostedService<TimeRulesService>();

        var app = builder.Build();
        // The store logs retries, leadership and the connection budget; initialised once logging exists.
        if (store is SqlCoreStore sql) sql.Log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("GpuRunner.Core.Storage");
        await store.InitializeAsync();
        await core.DeclareSeededUsersAsync(o.Users);

        app.Logger.LogDebug("serving at most {Connections} connections at once", maxConnections);
        app.Use(ApiErrors.Middleware);
        app.MapGet("/healthz", async (CoreService c, HttpContext ctx) =>
        {
            try { await c.Store.GetSpaceAsync("healthz/probe", ctx.RequestAborted); } // the database answers
            catch (Exception e) when (e is System.Data.Common.DbException or IOException or TimeoutException)
            {
                // Out of file descriptors or connections for a moment: unavailable, not a bug (no 500).
                throw new ApiException(503, "the store does not answer right now; try again");
            }
            return TypedResults.Ok(new Dictionary<string, object?> { ["status"] = "ok", ["store"] = c.Store.Kind });
        });
        app.MapPages().MapMetrics(); // issue 7: web pages, /metrics, /readyz
        HubEndpoints.Map(app, o);
        RunnerEndpoints.Map(app, o);
        SmokeReportEndpoints.Map(app, o);
        UsageEndpoints.Map(app, o);
        TokenEndpoints.Map(app, o);
        app.MapFallback((HttpContext ctx) => ApiErrors.WriteAsync(ctx, 404, $"no route {ctx.Request.Method} {ctx.Request.Path}", "not_found"));
        return app;
    }

    /// <summary>The addresses Kestrel really bound (port 0 becomes a real port).</summary>
    public static IReadOnlyList<string> Addresses(WebApplication app) =>
        app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.ToArray() ?? [];

    /// <summary>"sqlite:PATH", "postgres:CONNSTRING", or null for SQLite in the data directory.</summary>
    public static ICoreStore OpenStore(string? db, TimeProvider clock, bool fsyncEachCommit = true)
    {
        if (string.IsNullOrEmpty(db)) return new SqliteCoreStore(Path.Combine(DataDirectory(), "core.db"), clock, fsyncEachCommit);
        if (db.StartsWith("sqlite:", StringComparison.Ordinal) && db.Length > 7) return new SqliteCoreStore(db[7..], clock, fsyncEachCommit);
        if (db.StartsWith("postgres:", StringComparison.Ordinal) && db.Length > 9) return new PostgresCoreStore(db[9..], clock);
        throw new ArgumentException($"--db must be sqlite:PATH or postgres:CONNSTRING, got '{db}'");
    }

    /// <summary>$GPURUNNER_DATA, else $XDG_DATA_HOME/gpurunner, else ~/.local/share/gpurunner.</summary>
    public static string DataDirectory()
    {
        var env = Environment.GetEnvironmentVariable("GPURUNNER_DATA");
        if (!string.IsNullOrEmpty(env)) return env;
        var xdg = Environment.GetEnvironmentVariable("XDG_DATA_HOME");
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return Path.Combine(!string.IsNullOrEmpty(xdg) ? xdg : Path.Combine(home, ".local", "share"), "gpurunner");
    }
}
