using GpuRunner.Diagnostics.Checks;
using GpuRunner.Diagnostics.Report;
using GpuRunner.Native.Cuda;

namespace GpuRunner.Diagnostics.Tests.Checks;

public class DeviceVisibleCheckTests
{
    private static CheckContext Context(Dictionary<string, string> env, int? nvml, int? cuda, bool cudaNoDevice = false, string? mig = null)
    {
        var report = new DeviceReport();
        if (nvml is > 0) report.Gpus.Add(new GpuReport { Index = 0, Name = "NVIDIA T4", MigMode = mig ?? "disabled" });
        var ctx = new CheckContext(report, getEnv: n => env.GetValueOrDefault(n)) { NvmlDeviceCount = nvml, CudaDeviceCount = cuda };
        ctx.Record(new CheckResult("nvml.init", "t", CheckOutcome.Pass("ok"), 0));
        ctx.Record(new CheckResult("cuda.init", "t", cudaNoDevice
            ? Diagnoses.FromException(new CudaException("cuInit", CUresult.CUDA_ERROR_NO_DEVICE, "CUDA_ERROR_NO_DEVICE", "no CUDA-capable device is detected"))
            : CheckOutcome.Pass("ok"), 0));
        return ctx;
    }

    [Fact]
    public void PassesWhenCudaSeesADevice()
    {
        var outcome = new DeviceVisibleCheck().Run(Context([], nvml: 1, cuda: 1));
        Assert.Equal(CheckStatus.Pass, outcome.Status);
        Assert.StartsWith("1 device visible to CUDA (NVIDIA T4)", outcome.Evidence);
    }

    [Theory]
    [InlineData("", "CUDA_VISIBLE_DEVICES='' hides every GPU")]
    [InlineData("3", "CUDA_VISIBLE_DEVICES='3' selects devices that may not exist (NVML sees 1)")]
    public void ExplainsCudaVisibleDevices(string value, string expected)
    {
        var outcome = new DeviceVisibleCheck().Run(Context(new() { ["CUDA_VISIBLE_DEVICES"] = value }, nvml: 1, cuda: null, cudaNoDevice: true));
        Assert.Equal(CheckStatus.Fail, outcome.Status);
        Assert.Contains(expected, outcome.Diagnosis!.Cause);
    }

    [Fact]
    public void ExplainsNvidiaVisibleDevicesAndMig()
    {
        var outcome = new DeviceVisibleCheck().Run(Context(new() { ["NVIDIA_VISIBLE_DEVICES"] = "void" }, nvml: 1, cuda: 0, mig: "enabled"));
        Assert.Contains("NVIDIA_VISIBLE_DEVICES='void'", outcome.Diagnosis!.Cause);
        Assert.Contains("MIG is enabled on GPU 0", outcome.Diagnosis.Cause);
    }

    [Fact]
    public void WarnsWhenCudaSeesFewerGpusThanNvmlWithoutAReason()
    {
        var outcome = new DeviceVisibleCheck().Run(Context([], nvml: 2, cuda: 1));
        Assert.Equal(CheckStatus.Warn, outcome.Status);
    }
}
