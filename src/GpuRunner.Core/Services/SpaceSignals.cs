using System.Collections.Concurrent;

namespace GpuRunner.Core.Services;

/// <summary>
/// Wakes the runners' long polls (GET desired) of one Space when this core instance changed it. Only a hint: a
/// waiter re-reads the state, and also re-reads every few seconds for changes made by another instance.
/// </summary>
public sealed class SpaceSignals
{
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _waiters = new();

    /// <summary>A task that completes at the Space's next <see cref="Pulse"/>.</summary>
    public Task Next(string spaceId) =>
        _waiters.GetOrAdd(spaceId, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;

    public void Pulse(string spaceId)
    {
        if (_waiters.TryRemove(spaceId, out var tcs)) tcs.TrySetResult();
    }
}
