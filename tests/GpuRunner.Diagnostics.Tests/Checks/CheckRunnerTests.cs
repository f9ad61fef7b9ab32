using System.Diagnostics;
using GpuRunner.Diagnostics.Checks;
using GpuRunner.Diagnostics.Report;
using GpuRunner.Native.Cuda;
using GpuRunner.Native.Nvml;

namespace GpuRunner.Diagnostics.Tests.Checks;

public class CheckRunnerTests
{
    private sealed class LambdaCheck(string id, Func<CheckContext, CheckOutcome> run, double deadlineSeconds = 5, string[]? requires = null) : ICheck
    {
        public string Id => id;
        public string Title => $"title of {id}";
        public TimeSpan Deadline => TimeSpan.FromSeconds(deadlineSeconds);
        public IReadOnlyList<string> Requires => requires ?? [];
        public CheckOutcome Run(CheckContext context) => run(context);
    }

    private static CheckContext Context() => new(new DeviceReport());

    [Fact]
    public void ACheckThatNeverReturnsFailsAtItsDeadlineAndTheRestStillRun()
    {
        var never = new ManualResetEventSlim(false);
        var checks = new ICheck[]
        {
            new LambdaCheck("stuck", _ => { never.Wait(); return CheckOutcome.Pass("unreachable"); }, deadlineSeconds: 0.3),
            new LambdaCheck("after", _ => CheckOutcome.Pass("ran")),
        };
        var watch = Stopwatch.StartNew();
        var results = new CheckRunner().Run(checks, Context());
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"took {watch.Elapsed}");
        Assert.Equal(CheckStatus.Fail, results[0].Status);
        Assert.Equal("timed out after 0.3 s", results[0].Outcome.Evidence);
        Assert.Equal("driver-call-hung", results[0].Outcome.Diagnosis!.Name);
        Assert.Equal(CheckStatus.Pass, results[1].Status);
    }

    [Fact]
    public void TimeoutOverrideAppliesToEveryCheck()
    {
        var runner = new CheckRunner(TimeSpan.FromSeconds(0.2));
        var result = runner.RunOne(new LambdaCheck("slow", _ => { Thread.Sleep(3000); return CheckOutcome.Pass("late"); }, deadlineSeconds: 60), Context());
        Assert.Equal("timed out after 0.2 s", result.Outcome.Evidence);
    }

    [Fact]
    public void DriverExceptionsBecomeNamedDiagnoses()
    {
        var runner = new CheckRunner();
        var nvml = runner.RunOne(new LambdaCheck("n", _ => throw new NvmlException("nvmlInit_v2", NvmlReturn.LibRmVersionMismatch, "RM mismatch")), Context());
        Assert.Equal(CheckStatus.Fail, nvml.Status);
        Assert.Equal("nvml-driver-library-mismatch", nvml.Outcome.Diagnosis!.Name);
        Assert.Equal("nvmlInit_v2: NVML_ERROR_LIB_RM_VERSION_MISMATCH (RM mismatch)", nvml.Outcome.Evidence);

        var cuda = runner.RunOne(new LambdaCheck("c", _ => throw new CudaException("cuInit", CUresult.CUDA_ERROR_INSUFFICIENT_DRIVER, "CUDA_ERROR_INSUFFICIENT_DRIVER", "too old")), Context());
        Assert.Equal("cuda-driver-too-old", cuda.Outcome.Diagnosis!.Name);

        var bug = runner.RunOne(new LambdaCheck("b", _ => throw new InvalidOperationException("boom")), Context());
        Assert.Equal(CheckStatus.Fail, bug.Status);
        Assert.Equal("internal-error", bug.Outcome.Diagnosis!.Name);
        Assert.Contains("boom", bug.Outcome.Evidence);
    }

    [Fact]
    public void OnlySelectsRequiredChecksInListOrder()
    {
        var all = StandardChecks.Create();
        var (run, shown) = CheckSelection.Select(all, ["cuda.kernel"]);
        Assert.Equal(["driver.library", "cuda.init", "cuda.memory", "cuda.kernel"], run.Select(c => c.Id));
        Assert.Equal(["cuda.kernel"], shown);
        var e = Assert.Throws<ArgumentException>(() => CheckSelection.Select(all, ["nope"]));
        Assert.Contains("unknown check nope", e.Message);
    }

    [Fact]
    public void NativeGroupSelectsTheDriverChecksAndNoFrameworkCheck()
    {
        var all = StandardChecks.Create();
        all.Add(new LambdaCheck("python.torch", _ => new CheckOutcome(CheckStatus.Pass, "e")));
        var (run, shown) = CheckSelection.Select(all, [CheckSelection.NativeGroup]);
        Assert.Equal(StandardChecks.Create().Select(c => c.Id), run.Select(c => c.Id));
        Assert.DoesNotContain("python.torch", shown);
    }

    [Fact]
    public void VerdictIsTheWorstStatusAndSkipsDoNotCount()
    {
        CheckResult R(CheckStatus s) => new("x", "x", new CheckOutcome(s, "e"), 0);
        Assert.Equal("PASS", StandardChecks.Verdict([R(CheckStatus.Pass), R(CheckStatus.Skip)]));
        Assert.Equal("WARN", StandardChecks.Verdict([R(CheckStatus.Pass), R(CheckStatus.Warn)]));
        Assert.Equal("FAIL", StandardChecks.Verdict([R(CheckStatus.Warn), R(CheckStatus.Fail), R(CheckStatus.Pass)]));
    }

    [Fact]
    public void SkipNamesTheCheckItNeeded()
    {
        var ctx = Context();
        ctx.Record(new CheckResult("cuda.init", "t", CheckOutcome.Fail("x", Diagnoses.TimedOut("cuda.init")), 1));
        var outcome = new CudaMemoryCheck().Run(ctx);
        Assert.Equal(CheckStatus.Skip, outcome.Status);
        Assert.Equal("skipped: cuda.init did not pass (FAIL)", outcome.Evidence);
    }
}

public class WorkerTests
{
    [Fact]
    public void CancellationEndsTheWaitBeforeTheDeadline()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        var watch = System.Diagnostics.Stopwatch.StartNew();
        Assert.Throws<OperationCanceledException>(() =>
            Worker.Run(() => { Thread.Sleep(5000); return 1; }, TimeSpan.FromSeconds(30), "sleepy", cts.Token));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(4), $"took {watch.Elapsed}");
    }

    [Fact]
    public void AnAbandonedWorkerFinishingLaterDoesNotCrash()
    {
        var (completed, _, _) = Worker.Run(() => { Thread.Sleep(300); return 1; }, TimeSpan.FromMilliseconds(50), "late");
        Assert.False(completed);
        Thread.Sleep(600); // the worker completes and signals after the caller gave up
        var (again, value, error) = Worker.Run(() => 42, TimeSpan.FromSeconds(5), "next");
        Assert.True(again);
        Assert.Equal(42, value);
        Assert.Null(error);
    }
}
