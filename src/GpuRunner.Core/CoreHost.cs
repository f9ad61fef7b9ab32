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
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = o.MaxBodyBytes);
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(c => { c.SingleLine = true; c.TimestampFormat = "yyyy-MM-ddTHH:mm:ssZ "; c.UseUtcTimestamp = true; });
        builder.Logging.SetMinimumLevel(LogLevel.Information);
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        logging?.Invoke(builder.Logging);

        // Source-generated metadata first: NativeAOT has no reflection-based serialization.
        builder.Services.ConfigureHttpJsonOptions(j =>
        {
            j.SerializerOptions.Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping;
            j.SerializerOptions.TypeInfoResolverChain.Insert(0, ApiJsonContext.Default);
        });
        var machine = new SpaceMachine(o.Catalogue, o.Policy);
        var core = new CoreService(store, machine, o.Clock);
        builder.Services.AddSingleton(o);
        builder.Services.AddSingleton(store);
        builder.Services.AddSingleton(machine);
        builder.Services.AddSingleton(core);
        builder.Services.AddSingleton(new Metrics.GpuTelemetry(o.Clock)); // GPU gauges and event counters, fed at ingest
        if (o.RunTimeRules) builder.Services.AddHostedService<TimeRulesService>();

        await store.InitializeAsync();
        foreach (var (name, token, admin) in o.Users) await core.SeedUserAsync(name, token, admin);

        var app = builder.Build();
        app.Use(ApiErrors.Middleware);
        app.MapGet("/healthz", async (CoreService c, HttpContext ctx) =>
        {
            await c.Store.GetSpaceAsync("healthz/probe", ctx.RequestAborted); // the database answers
            return TypedResults.Ok(new Dictionary<string, object?> { ["status"] = "ok", ["store"] = c.Store.Kind });
        });
        app.MapPages().MapMetrics(); // issue 7: web pages, /metrics, /readyz
        HubEndpoints.Map(app, o);
        RunnerEndpoints.Map(app, o);
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
