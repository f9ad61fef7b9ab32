using GpuRunner.Client;

namespace GpuRunner.Cli.Exec;

/// <summary>Where `exec` learns what the core decided for its Space (docs/supervision.md); a fake in tests.</summary>
public interface IDesiredSource
{
    /// <summary>The decision now, or null when the core cannot be asked (unreachable, refused): the app then runs.</summary>
    Task<RunnerDesired?> CurrentAsync(string? runId, CancellationToken ct);

    /// <summary>Completes when the decision for <paramref name="runId"/> is other than <paramref name="known"/>;
    /// waits through outages (retrying with backoff). Ends only with a decision or a cancel.</summary>
    Task<RunnerDesired> ChangeAsync(string? runId, string? known, CancellationToken ct);
}

/// <summary>
/// The core's GET desired as a long poll: one request waits up to <paramref name="pollWait"/> for a change, so a
/// decision reaches a connected runner as soon as the core makes it. Failures are retried with backoff (capped at
/// 10 s) and said once each, not at every retry.
/// </summary>
public sealed class CoreDesiredSource(RunnerClient client, Action<string> log, TimeSpan? pollWait = null, BackoffPolicy? backoff = null) : IDesiredSource
{
    private readonly TimeSpan _wait = pollWait ?? TimeSpan.FromSeconds(25);
    private readonly BackoffPolicy _backoff = backoff ?? new BackoffPolicy(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(10));
    private string? _lastError;

    public async Task<RunnerDesired?> CurrentAsync(string? runId, CancellationToken ct)
    {
        try { return Ok(await client.DesiredAsync(runId, null, TimeSpan.Zero, ct)); }
        catch (RunnerApiException e) { Failed(e); return null; }
    }

    public async Task<RunnerDesired> ChangeAsync(string? runId, string? known, CancellationToken ct)
    {
        var failures = 0;
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            try
            {
                var d = Ok(await client.DesiredAsync(runId, known, _wait, ct));
                failures = 0;
                if (d.Desired != known) return d;
            }
            catch (RunnerApiException e)
            {
                Failed(e);
                await Task.Delay(_backoff.Delay(++failures, Random.Shared), ct);
            }
        }
    }

    private RunnerDesired Ok(RunnerDesired d)
    {
        _lastError = null;
        return d;
    }

    private void Failed(RunnerApiException e)
    {
        if (e.Message == _lastError) return;
        _lastError = e.Message;
        log($"cannot ask the core what the Space should do ({e.Message}); retrying");
    }
}
