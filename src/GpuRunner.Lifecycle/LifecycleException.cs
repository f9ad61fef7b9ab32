namespace GpuRunner.Lifecycle;

/// <summary>Why a request was refused; the HTTP layer maps each kind to one status code.</summary>
public enum LifecycleErrorKind
{
    /// <summary>Malformed or out-of-range input (400).</summary>
    BadInput,
    /// <summary>Authenticated but not allowed, e.g. not the owner (403).</summary>
    Forbidden,
    NotFound,
    /// <summary>Already exists, or a concurrent/later fact conflicts (409).</summary>
    Conflict,
    /// <summary>The stage machine has no such move (409).</summary>
    IllegalTransition,
    /// <summary>An event older than the late window, or from a run that is no longer current (409).</summary>
    Stale,
    /// <summary>Well-formed but breaks a rule, e.g. a sleep time on cpu-basic (422).</summary>
    RuleBroken,
}

/// <summary>An expected refusal by the domain. Thrown before any state changes, so nothing is half-applied.</summary>
public sealed class LifecycleException(LifecycleErrorKind kind, string message) : Exception(message)
{
    public LifecycleErrorKind Kind { get; } = kind;
}
