using System.CommandLine;
using GpuRunner.Cli.Infrastructure;
using GpuRunner.Core.Bench;

namespace GpuRunner.Cli.Commands;

/// <summary>`gpurunner core bench`: the core benchmark (bench/core/README.md), runnable wherever gpurunner is.</summary>
public static class CoreBenchCommand
{
    public static Command Create(IConsole console)
    {
        var db = new Option<string>("--db") { Description = "Comma list: sqlite,postgres.", DefaultValueFactory = _ => "sqlite" };
        var runners = new Option<string>("--runners") { Description = "Comma list of concurrent runner counts.", DefaultValueFactory = _ => "8,32,64" };
        var seconds = new Option<double>("--seconds") { Description = "Seconds per ingest run.", DefaultValueFactory = _ => 5 };
        var spaces = new Option<int>("--spaces") { Description = "Spaces for the invoice benchmark.", DefaultValueFactory = _ => 10_000 };
        var days = new Option<int>("--days") { Description = "Days of usage per Space.", DefaultValueFactory = _ => 30 };
        var hb = new Option<int>("--heartbeats-per-day") { Description = "Stored heartbeats per Space per day.", DefaultValueFactory = _ => 24 };
        var parts = new Option<string>("--parts") { Description = "ingest,invoice", DefaultValueFactory = _ => "ingest,invoice" };
        var sync = new Option<string>("--sqlite-sync") { Description = "Comma list: full,normal.", DefaultValueFactory = _ => "full,normal" };
        var batch = new Option<string>("--batch") { Description = "Comma list of heartbeats per request (1: the heartbeat route; more: the batch route).", DefaultValueFactory = _ => "1" };
        var instances = new Option<string?>("--instances")
        {
            Description = "Scale-out run on PostgreSQL: comma list of core instance counts (e.g. 1,2,3), each a `core serve` child process on one schema. Capacity: the largest --runners value per instance, one per Space, round-robin; contention: that many runners in all, two per Space.",
        };
        var pg = new Option<string?>("--postgres") { Description = "PostgreSQL connection string (default: $GPURUNNER_BENCH_POSTGRES or $GPURUNNER_TEST_POSTGRES)." };
        var c = new Command("bench", "Benchmark the core: ingest events/s and p99 with N runners, invoice time for many Spaces.")
            { db, runners, seconds, spaces, days, hb, parts, sync, batch, instances, pg };
        c.SetHandler(console, async (p, ct) =>
        {
            int[] counts;
            int[] batches;
            try { counts = p.GetValue(runners)!.Split(',').Select(int.Parse).ToArray(); }
            catch (FormatException) { throw new CommandException($"--runners wants numbers separated by commas, got '{p.GetValue(runners)}'"); }
            try { batches = p.GetValue(batch)!.Split(',').Select(int.Parse).ToArray(); }
            catch (FormatException) { throw new CommandException($"--batch wants numbers separated by commas, got '{p.GetValue(batch)}'"); }
            if (batches.Any(b => b is < 1 or > Core.Api.RunnerEndpoints.MaxBatch))
                throw new CommandException($"--batch: 1..{Core.Api.RunnerEndpoints.MaxBatch} heartbeats per request");
            if (counts.Any(n => n is < 1 or > 4096) || p.GetValue(seconds) is <= 0 or > 600 || p.GetValue(spaces) < 1 || p.GetValue(days) is < 1 or > 366 || p.GetValue(hb) is < 0 or > 1440)
                throw new CommandException("out of range: runners 1..4096, seconds (0, 600], spaces >= 1, days 1..366, heartbeats-per-day 0..1440");
            var scale = Array.Empty<int>();
            if (p.GetValue(instances) is { } inst)
            {
                try { scale = inst.Split(',').Select(int.Parse).ToArray(); }
                catch (FormatException) { throw new CommandException($"--instances wants numbers separated by commas, got '{inst}'"); }
                if (scale.Any(n => n is < 1 or > 16)) throw new CommandException("--instances: 1..16 instances per run");
            }
            var ok = await CoreBenchmark.RunAsync(new CoreBenchOptions
            {
                Dbs = p.GetValue(db)!.Split(','), Runners = counts, Seconds = p.GetValue(seconds), Spaces = p.GetValue(spaces),
                Days = p.GetValue(days), HeartbeatsPerDay = p.GetValue(hb), Parts = p.GetValue(parts)!.Split(','),
                Syncs = p.GetValue(sync)!.Split(','), Batches = batches, Instances = scale,
                Postgres = p.GetValue(pg) ?? Environment.GetEnvironmentVariable("GPURUNNER_BENCH_POSTGRES") ?? Environment.GetEnvironmentVariable("GPURUNNER_TEST_POSTGRES"),
            }, console.Out);
            return ok ? ReturnCode.Ok : ReturnCode.CheckFailed;
        });
        return c;
    }
}
