using System.Collections.Concurrent;
using System.Globalization;
using System.Text;

namespace GpuRunner.Core.Metrics;

/// <summary>
/// The core's own counters, kept lock-free (Interlocked) because they sit on the event ingest path. Exposition is
/// hand-written Prometheus text format 0.0.4: a handful of series does not need a library with a process-wide
/// static registry (several cores in one test process must not share counters).
/// </summary>
public sealed class CoreMetrics
{
    /// <summary>Runner routes (docs/contracts.md; a batch counts once, as "batch"); anything else under the prefix counts as "other".</summary>
    public static readonly string[] Kinds = ["runs", "device", "stage", "heartbeat", "exit", "batch", "other"];

    /// <summary>Ingest latency buckets (seconds): the benchmark's goal is p99 under 20 ms.</summary>
    public static readonly double[] Buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

    private readonly ConcurrentDictionary<(string Kind, int Status), StrongBox> _events = new();
    private readonly Histogram[] _latency = Kinds.Select(_ => new Histogram(Buckets.Length)).ToArray();

    public static int KindIndex(string kind)
    {
        var i = Array.IndexOf(Kinds, kind);
        return i < 0 ? Kinds.Length - 1 : i;
    }

    /// <summary>One runner request finished with <paramref name="status"/> after <paramref name="seconds"/>.</summary>
    public void Ingested(string kind, int status, double seconds)
    {
        var k = Kinds[KindIndex(kind)];
        Interlocked.Increment(ref _events.GetOrAdd((k, status), _ => new StrongBox()).Value);
        _latency[KindIndex(k)].Observe(seconds);
    }

    public long EventCount(string kind, int status) => _events.TryGetValue((kind, status), out var b) ? Interlocked.Read(ref b.Value) : 0;

    public void WriteIngest(StringBuilder sb)
    {
        var inv = CultureInfo.InvariantCulture;
        Help(sb, "gpurunner_events_ingested_total", "counter",
            "Runner events received on /api/runner/..., by route and HTTP status (200 includes acknowledged duplicates).");
        foreach (var ((kind, status), box) in _events.OrderBy(p => p.Key.Kind, StringComparer.Ordinal).ThenBy(p => p.Key.Status))
            sb.Append(inv, $"gpurunner_events_ingested_total{{kind=\"{kind}\",code=\"{status}\",result=\"{Result(status)}\"}} {Interlocked.Read(ref box.Value)}\n");

        Help(sb, "gpurunner_ingest_duration_seconds", "histogram", "Time to answer a runner event, from request to response (includes the store's commit).");
        for (var i = 0; i < Kinds.Length; i++)
        {
            var h = _latency[i];
            var (counts, count, sum) = h.Snapshot();
            if (count == 0) continue;
            long cumulative = 0;
            for (var b = 0; b < Buckets.Length; b++)
            {
                cumulative += counts[b];
                sb.Append(inv, $"gpurunner_ingest_duration_seconds_bucket{{kind=\"{Kinds[i]}\",le=\"{Buckets[b].ToString("0.####", inv)}\"}} {cumulative}\n");
            }
            sb.Append(inv, $"gpurunner_ingest_duration_seconds_bucket{{kind=\"{Kinds[i]}\",le=\"+Inf\"}} {count}\n");
            sb.Append(inv, $"gpurunner_ingest_duration_seconds_sum{{kind=\"{Kinds[i]}\"}} {sum.ToString("R", inv)}\n");
            sb.Append(inv, $"gpurunner_ingest_duration_seconds_count{{kind=\"{Kinds[i]}\"}} {count}\n");
        }
    }

    private static string Result(int status) => status switch
    {
        < 300 => "accepted",
        < 500 => "refused",
        _ => "error",
    };

    public static void Help(StringBuilder sb, string name, string type, string help) =>
        sb.Append("# HELP ").Append(name).Append(' ').Append(help.Replace("\\", "\\\\").Replace("\n", "\\n")).Append('\n')
          .Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');

    /// <summary>Label values may hold any text; the format wants \\, \" and \n escaped.</summary>
    public static string Label(string v) => v.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n");

    private sealed class StrongBox { public long Value; }

    private sealed class Histogram(int buckets)
    {
        private readonly long[] _counts = new long[buckets + 1]; // last slot: above the largest bucket
        private long _sumNanos; // an integer sum keeps Observe lock-free and exact to the nanosecond

        public void Observe(double seconds)
        {
            var i = Array.BinarySearch(Buckets, seconds);
            if (i < 0) i = ~i;
            Interlocked.Increment(ref _counts[i]);
            Interlocked.Add(ref _sumNanos, (long)(seconds * 1e9));
        }

        public (long[] Counts, long Count, double Sum) Snapshot()
        {
            var c = new long[_counts.Length];
            for (var i = 0; i < c.Length; i++) c[i] = Interlocked.Read(ref _counts[i]);
            // Count from the buckets, so count == +Inf bucket even while observations race with the scrape.
            return (c, c.Sum(), Interlocked.Read(ref _sumNanos) / 1e9);
        }
    }
}
