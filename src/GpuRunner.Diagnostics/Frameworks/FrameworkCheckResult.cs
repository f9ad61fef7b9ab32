namespace GpuRunner.Diagnostics.Frameworks;

/// <summary>Outcome of one check, as in the device report's "checks" array (docs/contracts.md).</summary>
public enum CheckStatus { Pass, Warn, Fail, Skip }

/// <summary>Why a check failed and what to do about it; both one line, written for the person reading the log.</summary>
public sealed record Diagnosis(string Cause, string Fix)
{
    /// <summary>Stable name of the failure mode (e.g. "torch-cpu-wheel"), for tests and JSON consumers.</summary>
    public string? Code { get; init; }
}

/// <summary>
/// One framework check's result: mirrors a verify check (id, title, status, one-line evidence, diagnosis) so the
/// check runner can take it as is.
/// </summary>
public sealed record FrameworkCheckResult(string Id, string Title, CheckStatus Status, string Evidence, Diagnosis? Diagnosis)
{
    public double Seconds { get; init; }
    /// <summary>Facts the check gathered (versions, device names), for --json.</summary>
    public IReadOnlyDictionary<string, string?> Facts { get; init; } = new Dictionary<string, string?>();
}

/// <summary>A check that verify can run (verify --only torch|onnx|python|model).</summary>
public interface IFrameworkCheck
{
    /// <summary>The group name used by `verify --only` (torch, onnx, python, model).</summary>
    string Group { get; }
    Task<IReadOnlyList<FrameworkCheckResult>> RunAsync(CancellationToken cancellationToken);
}
