using GpuRunner.Native;
using GpuRunner.Native.Cuda;
using GpuRunner.Native.Nvml;

namespace GpuRunner.Diagnostics.Smoke.Cuda;

/// <summary>The smoke backend on the real driver: CUDA for the work, NVML for health and telemetry, cuBLAS when the
/// container has it. Disposing frees every GPU buffer and releases the contexts (also on Ctrl-C).</summary>
public sealed class CudaSmokeBackend : ISmokeBackend
{
    private readonly List<CudaSmokeDevice> _devices;
    private readonly NvmlSession? _nvml;

    private CudaSmokeBackend(List<CudaSmokeDevice> devices, NvmlSession? nvml, List<string> trace)
    {
        _devices = devices;
        _nvml = nvml;
        Trace = trace;
    }

    public string? UnavailableReason => null;
    public IReadOnlyList<ISmokeDevice> Devices => _devices;
    public IReadOnlyList<string> Trace { get; }

    public static ISmokeBackend Open()
    {
        try
        {
            CudaDriver.Init();
        }
        catch (DriverLibraryNotFoundException e)
        {
            return new UnavailableSmokeBackend($"{e.Message}: no NVIDIA driver in this container", e.Result.TraceLines.ToList());
        }
        catch (Exception e) when (e is CudaException or DriverSymbolMissingException)
        {
            return new UnavailableSmokeBackend($"the CUDA driver does not start: {e.Message}");
        }
        var trace = new List<string>
        {
            $"CUDA driver {CudaDriver.FormatVersion(CudaDriver.DriverVersion())} from {CudaDriver.Library.LoadedFrom}",
        };
        var count = CudaDriver.DeviceCount();
        if (count == 0)
        {
            var visible = Environment.GetEnvironmentVariable("CUDA_VISIBLE_DEVICES");
            return new UnavailableSmokeBackend("the CUDA driver sees no device" +
                (visible is null ? "" : $" (CUDA_VISIBLE_DEVICES={visible})"), trace);
        }

        NvmlSession? nvml = null;
        var nvmlDevices = new Dictionary<string, NvmlDevice>(StringComparer.OrdinalIgnoreCase);
        try
        {
            nvml = NvmlSession.Open();
            for (var i = 0; i < nvml.DeviceCount(); i++)
            {
                var d = nvml.Device(i);
                if (d.PciBusId() is { HasValue: true } bus) nvmlDevices[bus.Value!] = d;
            }
        }
        catch (Exception e) when (e is NvmlException or DriverLibraryNotFoundException or DriverSymbolMissingException)
        {
            trace.Add($"NVML unavailable, health checks are skipped: {e.Message}");
        }

        var cublasTrace = new List<string>();
        var cublas = Cublas.TryLoad(cublasTrace);
        if (cublas is null)
        {
            trace.AddRange(cublasTrace);
            trace.Add("cuBLAS not found: GEMM falls back to gpurunner's own kernel (no tensor cores; judged against the fp32 spec)");
        }

        var devices = new List<CudaSmokeDevice>();
        try
        {
            for (var ordinal = 0; ordinal < count; ordinal++)
            {
                var device = CudaDevice.Get(ordinal);
                nvmlDevices.TryGetValue(device.PciBusId, out var nv);
                devices.Add(new CudaSmokeDevice(ordinal, device, nv, cublas, trace));
            }
        }
        catch (CudaException e)
        {
            // A context that cannot be created (out of memory, exclusive-process mode taken, ECC fault) is the
            // answer, not a crash.
            foreach (var d in devices) d.Dispose();
            nvml?.Dispose();
            return new UnavailableSmokeBackend($"GPU{devices.Count} cannot be used: {e.Message}", trace);
        }
        catch
        {
            foreach (var d in devices) d.Dispose();
            nvml?.Dispose();
            throw;
        }
        if (cublas is not null && devices[0].CublasVersion is { } v) trace.Add($"cuBLAS {v} from {cublas.Path}");
        return new CudaSmokeBackend(devices, nvml, trace);
    }

    public void Dispose()
    {
        foreach (var d in _devices) d.Dispose();
        _nvml?.Dispose();
    }
}
