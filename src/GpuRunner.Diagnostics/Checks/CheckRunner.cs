using System.Diagnostics;
using GpuRunner.Native;
using GpuRunner.Native.Cuda;
using GpuRunner.Native.Nvml;

namespace GpuRunner.Diagnostics.Checks;

/// <summary>
/// Runs checks in order, each on a dedicated thread under its own deadline. A driver call that never returns
/// (a wedged GPU, a hung NVML lock) costs that check "FAIL: timed out after N s"; the thread is abandoned as a
/// background thread so the command still finishes and the process can exit.
/// </summary>
public sealed class CheckRunner(TimeSpan? deadlineOverride = null)
{
    public IReadOnlyList<CheckResult> Run(IEnumerable<ICheck> checks, CheckContext context, Action<CheckResult>? onResult = null)
    {
        var results = new List<CheckResult>();
        foreach (var check in checks)
        {
            var result = RunOne(check, context);
            context.Record(result);
            results.Add(result);
            onResult?.Invoke(result);
        }
        return results;
    }

    /// <summary>Ctrl-C (<paramref name="ct"/>) stops the wait at once with OperationCanceledException.</summary>
    public CheckResult RunOne(ICheck check, CheckContext context, CancellationToken ct = default)
    {
        var deadline = deadlineOverride ?? check.Deadline;
        var watch = Stopwatch.StartNew();
        var (completed, outcome, error) = Worker.Run(() => check.Run(context), deadline, check.Id, ct);
        watch.Stop();
        if (!completed)
            outcome = CheckOutcome.Fail($"timed out after {deadline.TotalSeconds:0.#} s", Diagnoses.TimedOut(check.Id));
        else if (error != null)
            outcome = Diagnoses.FromException(error);
        return new CheckResult(check.Id, check.Title, outcome!, watch.Elapsed.TotalSeconds);
    }
}

/// <summary>Runs a function on a dedicated background thread and waits at most a deadline for it.</summary>
public static class Worker
{
    public static (bool Completed, T? Value, Exception? Error) Run<T>(Func<T> body, TimeSpan deadline, string name,
        CancellationToken ct = default) => Start(body, name).Wait(deadline, ct);

    /// <summary>Starts <paramref name="body"/> now; the caller does other work, then waits (detect overlaps the host probe with NVML).</summary>
    public static Pending<T> Start<T>(Func<T> body, string name)
    {
        var pending = new Pending<T>();
        var thread = new Thread(() =>
        {
            try { pending.Value = body(); }
            catch (Exception e) { pending.Error = e; }
            finally { pending.Done.Set(); }
        }, maxStackSize: 1 << 20) { IsBackground = true, Name = $"check {name}" };
        thread.Start();
        return pending;
    }

    public sealed class Pending<T>
    {
        // Not disposed: an abandoned worker may still Set() it long after the wait returned.
        internal readonly ManualResetEventSlim Done = new(false);
        internal T? Value;
        internal Exception? Error;

        /// <summary>Throws OperationCanceledException on Ctrl-C; the worker is then left behind as a background thread too.</summary>
        public (bool Completed, T? Value, Exception? Error) Wait(TimeSpan deadline, CancellationToken ct = default) =>
            Done.Wait(deadline, ct) ? (true, Value, Error) : (false, default, null);
    }
}
