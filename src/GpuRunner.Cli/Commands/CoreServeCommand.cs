using System.CommandLine;
using GpuRunner.Cli.Infrastructure;
using GpuRunner.Core;
using GpuRunner.Core.Storage;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;

namespace GpuRunner.Cli.Commands;

/// <summary>`gpurunner core serve`: runs the lifecycle and billing core (HTTP API + time rules) until Ctrl-C/SIGTERM.</summary>
public static class CoreServeCommand
{
    public static Command Create(IConsole console)
    {
        var urls = new Option<string?>("--urls") { Description = "Where to listen, e.g. http://127.0.0.1:8080 (several: separated by ';')." };
        var db = new Option<string?>("--db")
        {
            Description = "sqlite:PATH or postgres:CONNSTRING. Default: SQLite at $GPURUNNER_DATA/core.db (else ~/.local/share/gpurunner/core.db).",
        };
        var users = new Option<string[]>("--user") { Description = "Seed a user: NAME=TOKEN (repeatable; for local use)." };
        var admins = new Option<string[]>("--admin") { Description = "Seed an admin (can give grants, read all invoices): NAME=TOKEN (repeatable)." };
        var publicUrl = new Option<string?>("--public-url") { Description = "Base URL clients use (put in repos/create's url); default: each request's own scheme and host." };
        var tick = new Option<double?>("--tick") { Description = "Seconds between time-rule checks (sleep, lost heartbeats). Default 5." };
        var sync = new Option<string>("--sqlite-sync")
        {
            Description = "full (default): fsync every commit, acknowledged events survive power loss; normal: faster, survives a killed process but a power loss may drop the last commits.",
            DefaultValueFactory = _ => "full",
        };
        sync.AcceptOnlyFromAmong("full", "normal");
        var catalogue = new Option<string?>("--catalogue")
        {
            Description = "Hardware and prices: a file in requirements/tiers.json's shape (default: $GPURUNNER_CATALOGUE, else the built-in default tiers).",
        };
        var lease = new Option<double?>("--heartbeat-lease") { Description = "Seconds without a heartbeat before a live Space counts as failed. Default 90." };
        var retention = new Option<double?>("--heartbeat-retention") { Description = "Days heartbeat rows are kept (at least 2; billing never reads them). Default 14." };
        var maxConnections = new Option<int?>("--max-connections") { Description = "Connections served at once. Default: derived from the open-file limit (ulimit -n)." };
        var hold = new Option<double?>("--hold") { Description = "Minutes an event that does not fit a Space's history is held before it becomes a dead letter. Default 10." };

        var serve = new Command("serve", "Run the lifecycle and billing core (Hub-compatible Space API, runner routes, usage and invoices).");
        foreach (var o in new Option[] { urls, db, users, admins, publicUrl, tick, lease, hold, retention, maxConnections, sync, catalogue }) serve.Options.Add(o);
        serve.SetHandler(console, async (parse, ct) =>
        {
            var o = new CoreOptions { PublicUrl = parse.GetValue(publicUrl) };
            if (o.PublicUrl is not null && !Uri.TryCreate(o.PublicUrl, UriKind.Absolute, out _))
                throw new CommandException($"--public-url must be an absolute URL, got '{o.PublicUrl}'");
            foreach (var u in (parse.GetValue(urls) ?? "http://127.0.0.1:8080").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (!Uri.TryCreate(u, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
                    throw new CommandException($"--urls: '{u}' is not an http(s) URL");
                o.Urls.Add(u);
            }
            foreach (var (spec, admin) in (parse.GetValue(users) ?? []).Select(s => (s, false)).Concat((parse.GetValue(admins) ?? []).Select(s => (s, true))))
            {
                var eq = spec.IndexOf('=');
                if (eq <= 0 || eq == spec.Length - 1) throw new CommandException($"{(admin ? "--admin" : "--user")} wants NAME=TOKEN, got '{spec}'");
                o.Users.Add((spec[..eq], spec[(eq + 1)..], admin));
            }
            if (parse.GetValue(tick) is { } t)
            {
                if (t is <= 0 or > 3600) throw new CommandException($"--tick must be in (0, 3600] seconds, got {t}");
                o.TickInterval = TimeSpan.FromSeconds(t);
            }
            if (parse.GetValue(lease) is { } l)
            {
                if (l is < 1 or > 86400) throw new CommandException($"--heartbeat-lease must be 1..86400 seconds, got {l}");
                o.Policy = o.Policy with { HeartbeatLease = TimeSpan.FromSeconds(l) };
            }
            if (parse.GetValue(hold) is { } h)
            {
                if (h is < 0.01 or > 10080) throw new CommandException($"--hold must be 0.01..10080 minutes, got {h}");
                o.Policy = o.Policy with { HoldWindow = TimeSpan.FromMinutes(h) };
            }

            if (parse.GetValue(retention) is { } days)
            {
                if (days is < 2 or > 36500) throw new CommandException($"--heartbeat-retention must be 2..36500 days, got {days}");
                o.HeartbeatRetention = TimeSpan.FromDays(days);
            }
            if (parse.GetValue(maxConnections) is { } mc)
            {
                if (mc is < 1 or > 1_000_000) throw new CommandException($"--max-connections must be 1..1000000, got {mc}");
                o.MaxConnections = mc;
            }

            o.Catalogue = LoadCatalogue(parse.GetValue(catalogue));

            ICoreStore store;
            try { store = CoreHost.OpenStore(parse.GetValue(db), o.Clock, parse.GetValue(sync) != "normal"); }
            catch (ArgumentException e) { throw new CommandException(e.Message); }
            await using var storeScope = store;
            Microsoft.AspNetCore.Builder.WebApplication app;
            // The host logs a failed start (a port in use) with its whole stack before rethrowing; the rethrow is
            // reported below as one line, so that log is noise. Its other failures are Critical and still show.
            try { app = await CoreHost.CreateAsync(store, o, l => l.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.Critical)); }
            catch (Exception e) when (e is System.Data.Common.DbException or IOException or UnauthorizedAccessException or Lifecycle.LifecycleException)
            {
                throw new CommandException($"cannot open the database ({store.Describe}): {e.Message}");
            }
            await using var appScope = app;
            try { await app.StartAsync(ct); }
            catch (IOException e) when (e.InnerException is AddressInUseException)
            {
                throw new CommandException($"cannot listen on {string.Join(", ", o.Urls)}: the address is already in use (another core or program listens there); choose another with --urls");
            }
            catch (IOException e) { throw new CommandException($"cannot listen on {string.Join(", ", o.Urls)}: {e.Message}"); }
            console.Out.WriteLine($"gpurunner core: listening on {string.Join(", ", CoreHost.Addresses(app))} (store {store.Describe})");
            if (o.Users.Count == 0)
                console.Error.WriteLine("gpurunner core: warning: no --user or --admin given: only users an earlier start seeded into this database can log in or call the API");
            console.Out.Flush();
            try { await Task.Delay(Timeout.Infinite, ct); }
            catch (OperationCanceledException) { }
            await app.StopAsync(CancellationToken.None);
            console.Out.WriteLine("gpurunner core: stopped");
            return ReturnCode.Ok;
        });

        var core = new Command("core", "The lifecycle and billing core.");
        core.Subcommands.Add(serve);
        core.Subcommands.Add(CoreBenchCommand.Create(console));
        return core;
    }

    /// <summary>
    /// The core prices with the shared catalogue (requirements/tiers.json, embedded in Diagnostics): the built-in
    /// default tiers (the source document's table), or every priced flavor of a user file. Flavors without a price
    /// cannot be billed and are left out.
    /// </summary>
    internal static Lifecycle.HardwareCatalogue LoadCatalogue(string? path)
    {
        Diagnostics.Catalogue.HardwareCatalogue c;
        try { c = Diagnostics.Catalogue.HardwareCatalogue.Resolve(path); }
        catch (Diagnostics.Catalogue.CatalogueException e) { throw new CommandException(e.Message); }
        var flavors = c.Flavors.Where(f => f.IsDefault && f.PriceMicroUsdPerHour is not null).Select(f => new Lifecycle.Flavor(
            f.Id, f.Name ?? f.Id,
            f.Vcpu is { } v ? $"{v} vCPU" : "-", f.RamGB is { } r ? $"{r} GB" : "-", f.DiskGB is { } d ? $"{d} GB" : "-",
            f.Gpu is { } g ? new Lifecycle.Accelerator("gpu", g.Model, g.Count, $"{g.MemoryGB} GB", "Nvidia") : null,
            f.PriceMicroUsdPerHour!.Value)).ToList();
        if (flavors.Count == 0) throw new CommandException($"catalogue {c.Origin}: no priced default flavor to bill with");
        if (flavors.All(f => !f.IsFree)) throw new CommandException($"catalogue {c.Origin}: no free flavor (price 0) for new Spaces");
        try { return new Lifecycle.HardwareCatalogue(flavors); }
        catch (ArgumentException e) { throw new CommandException($"catalogue {c.Origin}: {e.Message}"); }
    }
}
