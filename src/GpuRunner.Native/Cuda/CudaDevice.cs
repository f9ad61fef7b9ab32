namespace GpuRunner.Native.Cuda;

/// <summary>A CUDA device (CUdevice ordinal) with the attributes the checks and smoke tests use.</summary>
public sealed unsafe class CudaDevice
{
    private CudaDevice(int ordinal) => Ordinal = ordinal;

    /// <summary>CUdevice; equal to the ordinal on every driver so far, but always taken from cuDeviceGet.</summary>
    public int Ordinal { get; }

    /// <summary>Requires <see cref="CudaDriver.Init"/>.</summary>
    public static CudaDevice Get(int ordinal)
    {
        var device = 0;
        CudaDriver.ThrowIfFailed(CudaDriver.Call("cuDeviceGet", () => CudaNative.cuDeviceGet(out device, ordinal)), "cuDeviceGet");
        return new CudaDevice(device);
    }

    public string Name
    {
        get
        {
            var buffer = stackalloc byte[256];
            CudaDriver.ThrowIfFailed(CudaNative.cuDeviceGetName(buffer, 256, Ordinal), "cuDeviceGetName");
            var span = new ReadOnlySpan<byte>(buffer, 256);
            var end = span.IndexOf((byte)0);
            return System.Text.Encoding.UTF8.GetString(end < 0 ? span : span[..end]);
        }
    }

    /// <summary>cuDeviceTotalMem: what CUDA can address (a little less than NVML's total, which counts reserved memory).</summary>
    public ulong TotalMemoryBytes
    {
        get
        {
            CudaDriver.ThrowIfFailed(CudaNative.cuDeviceTotalMem_v2(out var bytes, Ordinal), "cuDeviceTotalMem_v2");
            return bytes;
        }
    }

    public int Attribute(CUdevice_attribute attribute)
    {
        CudaDriver.ThrowIfFailed(CudaNative.cuDeviceGetAttribute(out var value, attribute, Ordinal), "cuDeviceGetAttribute");
        return value;
    }

    public (int Major, int Minor) ComputeCapability =>
        (Attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR),
         Attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR));

    public int MultiprocessorCount => Attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
    public int L2CacheBytes => Attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE);
    /// <summary>Peak memory clock in kHz.</summary>
    public int MemoryClockKHz => Attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE);
    public int MemoryBusWidthBits => Attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH);

    /// <summary>
    /// Theoretical bandwidth from the attributes: 2 transfers per clock (DDR) × clock × bus width. This is the
    /// figure deviceQuery prints; vendor datasheets can differ slightly (HBM3e rounding).
    /// </summary>
    public double TheoreticalBandwidthBytesPerSecond => TheoreticalBandwidth(MemoryClockKHz, MemoryBusWidthBits);

    public static double TheoreticalBandwidth(int memoryClockKHz, int busWidthBits) =>
        2.0 * memoryClockKHz * 1000.0 * (busWidthBits / 8.0);

    /// <summary>"GPU-xxxxxxxx-xxxx-…" as nvidia-smi prints it. cuDeviceGetUuid_v2 is preferred (MIG-aware).</summary>
    public string Uuid
    {
        get
        {
            var b = stackalloc byte[16];
            CUresult r;
            try { r = CudaNative.cuDeviceGetUuid_v2(b, Ordinal); }
            catch (EntryPointNotFoundException) { r = CudaNative.cuDeviceGetUuid(b, Ordinal); }
            CudaDriver.ThrowIfFailed(r, "cuDeviceGetUuid_v2");
            return FormatUuid(new ReadOnlySpan<byte>(b, 16));
        }
    }

    public static string FormatUuid(ReadOnlySpan<byte> b)
    {
        var hex = Convert.ToHexStringLower(b);
        return $"GPU-{hex[..8]}-{hex[8..12]}-{hex[12..16]}-{hex[16..20]}-{hex[20..]}";
    }

    /// <summary>"00000000:00:06.0", the form nvidia-smi and NVML use.</summary>
    public string PciBusId =>
        $"{Attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID):x8}:{Attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_PCI_BUS_ID):x2}:{Attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID):x2}.0".ToUpperInvariant();

    public bool CanAccessPeer(CudaDevice peer)
    {
        CudaDriver.ThrowIfFailed(CudaNative.cuDeviceCanAccessPeer(out var can, Ordinal, peer.Ordinal), "cuDeviceCanAccessPeer");
        return can != 0;
    }

    /// <summary>Retains this device's primary context and makes it current on the calling thread.</summary>
    public CudaContext RetainPrimaryContext() => CudaContext.RetainPrimary(Ordinal);
}
