using GpuRunner.Diagnostics.Report;

namespace GpuRunner.Diagnostics.Checks;

public enum CheckStatus { Pass, Warn, Fail, Skip }

/// <summary>What went wrong and what to do about it (texts follow gpu-facts.md's known failure modes).</summary>
public sealed record Diagnosis(string Name, string Cause, string Fix);

/// <summary>A check's answer: status, one line of evidence, and a diagnosis when it failed or warned.</summary>
public sealed record CheckOutcome(CheckStatus Status, string Evidence, Diagnosis? Diagnosis = null)
{
    public static CheckOutcome Pass(string evidence) => new(CheckStatus.Pass, evidence);
    public static CheckOutcome Warn(string evidence, Diagnosis? diagnosis = null) => new(CheckStatus.Warn, evidence, diagnosis);
    public static CheckOutcome Fail(string evidence, Diagnosis diagnosis) => new(CheckStatus.Fail, evidence, diagnosis);
    public static CheckOutcome Skip(string evidence) => new(CheckStatus.Skip, evidence);
}

/// <summary>
/// One verification step. Checks run in order, each on its own worker thread under its own deadline; a later
/// check reads what earlier ones left in the <see cref="CheckContext"/>. Other parts (frameworks, models,
/// smoke) add their own ICheck implementations to the list.
/// </summary>
public interface ICheck
{
    /// <summary>Stable dotted id, e.g. "cuda.init" (used by --only and in JSON).</summary>
    string Id { get; }
    string Title { get; }
    TimeSpan Deadline { get; }
    /// <summary>Ids of checks whose results this one reads (run first by `verify --only`).</summary>
    IReadOnlyList<string> Requires => [];
    CheckOutcome Run(CheckContext context);
}

/// <summary>
/// A check whose slow, independent part (a Python subprocess importing torch: seconds) can start before its turn,
/// so that `verify` costs the slowest snippet rather than the sum of all of them. Its result is still reported
/// in order, and its deadline still applies from its turn.
/// </summary>
public interface IPrefetchableCheck : ICheck
{
    void Prefetch(CancellationToken cancellationToken);
}

/// <summary>The result the runner records: the outcome plus id, title and duration.</summary>
public sealed record CheckResult(string Id, string Title, CheckOutcome Outcome, double Seconds)
{
    public CheckStatus Status => Outcome.Status;

    public CheckReport ToReport() => new()
    {
        Id = Id, Title = Title, Status = Status.ToString().ToUpperInvariant(), Evidence = Outcome.Evidence,
        Diagnosis = Outcome.Diagnosis is { } d ? new DiagnosisReport($"{d.Name}: {d.Cause}", d.Fix) : null,
        Seconds = Math.Round(Seconds, 3),
    };
}
