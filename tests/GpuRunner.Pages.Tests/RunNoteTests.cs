using GpuRunner.Core.Pages;
using GpuRunner.Lifecycle;

namespace GpuRunner.Pages.Tests;

/// <summary>The Space page names a device report's run by when it was made, not merely by a different id.</summary>
public sealed class RunNoteTests
{
    private static SpaceState Space(string? runId, long? startedMs) => new()
    {
        Id = "alice/app", Uid = "u", Owner = "alice", Sdk = "docker", RequestedFlavor = "cpu-basic", RunId = runId, RunStartedAtMs = startedMs,
    };

    private static DeviceSummary Report(string? runId, long atMs) => new(atMs, runId, [], null, null, "PASS", null, null, []);

    [Fact]
    public void A_report_made_before_the_current_run_began_is_an_earlier_run() =>
        Assert.Equal(" (an earlier run)", SpacePage.RunNote(Report("run-1", 1_000), Space("run-2", 2_000)));

    [Fact]
    public void A_report_from_a_newer_run_is_not_called_earlier() =>
        Assert.Equal(" (not the current run)", SpacePage.RunNote(Report("run-3", 3_000), Space("run-2", 2_000)));

    [Fact]
    public void The_current_run_needs_no_note() =>
        Assert.Equal("", SpacePage.RunNote(Report("run-2", 2_500), Space("run-2", 2_000)));
}
