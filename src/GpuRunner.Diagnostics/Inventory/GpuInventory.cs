using GpuRunner.Diagnostics.Report;
using GpuRunner.Diagnostics.Timing;
using GpuRunner.Native;
using GpuRunner.Native.Cuda;
using GpuRunner.Native.Loading;
using GpuRunner.Native.Nvml;

namespace GpuRunner.Diagnostics.Inventory;

/// <summary>Reads the driver and every GPU through NVML only (no cuInit: that is what makes detect fast).</summary>
public static class GpuInventory
{
    /// <summary>
    /// Fills the driver versions and report.Gpus from NVML (which must have loaded: see FillLibraries).
    /// Throws NvmlException / DriverSymbolMissingException when NVML is broken.
    /// <paramref name="keepOpen"/> skips nvmlShutdown (~3 ms on the H200): for a one-shot command about to exit.
    /// </summary>
    public static void Read(DeviceReport report, bool keepOpen = false)
    {
        PhaseTrace.Mark("nvml: init start");
        var session = NvmlSession.Open();
        try
        {
            PhaseTrace.Mark("nvml: initialised");
            var driverVersion = session.DriverVersion();
            var cudaVersion = CudaDriver.FormatVersion(session.CudaDriverVersion());
            var count = session.DeviceCount();
            PhaseTrace.Mark("nvml: versions + count");
            var gpus = new List<GpuReport>(count);
            for (var i = 0; i < count; i++) gpus.Add(ReadDevice(session.Device(i)));
            PhaseTrace.Mark("nvml: devices read");
            // Published only when complete: a read that overran its deadline must not change the report while it prints.
            report.Driver.DriverVersion = driverVersion;
            report.Driver.CudaDriverVersion = cudaVersion;
            report.Gpus = gpus;
        }
        finally
        {
            if (!keepOpen) session.Dispose();
        }
    }

    /// <summary>Library paths and the search trace. libcuda is only probed (dlopen, no cuInit) when asked.</summary>
    public static void FillLibraries(DriverReport driver, NativeLoader loader, bool includeCuda)
    {
        var nvml = loader.Nvml;
        driver.Loaded = nvml.Loaded;
        driver.NvmlLibrary = nvml.LoadedFrom;
        driver.SearchTrace = nvml.TraceLines.ToList();
        if (!includeCuda) return;
        var cuda = loader.Cuda;
        driver.Loaded |= cuda.Loaded;
        driver.CudaLibrary = cuda.LoadedFrom;
        driver.SearchTrace.AddRange(cuda.TraceLines);
    }

    public static GpuReport ReadDevice(NvmlDevice device)
    {
        // One after another on purpose: reading the groups on five threads was measured on the H200 and gained
        // nothing (NVML serialises calls on one device internally), so the simple order stays.
        var gpu = new GpuReport { Index = device.Index };
        var missing = gpu.Unsupported;
        Identity(device, gpu, missing);
        MemoryAndState(device, gpu, missing);
        Clocks(device, gpu, missing);
        Reliability(device, gpu, missing);
        LinkAndThrottle(device, gpu, missing);
        return gpu;
    }

    private static void Identity(NvmlDevice device, GpuReport gpu, List<UnsupportedField> missing)
    {
        gpu.Name = Take(device.Name(), "name", missing);
        gpu.Uuid = Take(device.Uuid(), "uuid", missing);
        gpu.PciBusId = Take(device.PciBusId(), "pciBusId", missing);
        gpu.ComputeCapability = Take(device.ComputeCapability().Map(cc => $"{cc.Major}.{cc.Minor}"), "computeCapability", missing);
        PhaseTrace.Mark("nvml: identity");
    }

    private static void MemoryAndState(NvmlDevice device, GpuReport gpu, List<UnsupportedField> missing)
    {
        var memory = device.Memory();
        if (memory.HasValue)
        {
            gpu.MemoryTotalMiB = (long)(memory.Value.total >> 20);
            gpu.MemoryUsedMiB = (long)(memory.Value.used >> 20);
            gpu.MemoryReservedMiB = (long)(memory.Value.reserved >> 20);
            gpu.MemoryFreeMiB = (long)(memory.Value.free >> 20);
        }
        else missing.Add(new("memory", memory.Code!));
        gpu.MigMode = Take(device.MigEnabled().Map(OnOff), "migMode", missing);
        gpu.PersistenceMode = Take(device.PersistenceEnabled().Map(OnOff), "persistenceMode", missing);
        gpu.TemperatureC = TakeValue(device.TemperatureC().Map(t => (int)t), "temperatureC", missing);
        gpu.PowerDrawW = TakeValue(device.PowerDrawW().Map(w => Math.Round(w, 2)), "power.draw", missing);
        gpu.PowerLimitW = TakeValue(device.PowerLimitW().Map(w => Math.Round(w, 2)), "power.limit", missing);
        PhaseTrace.Mark("nvml: memory, mig, persistence, temperature, power");
    }

    private static void Clocks(NvmlDevice device, GpuReport gpu, List<UnsupportedField> missing)
    {
        gpu.Clocks = new ClockReport
        {
            SmMHz = TakeValue(device.SmClockMHz().Map(v => (int)v), "clocks.sm", missing),
            SmMaxMHz = TakeValue(device.SmMaxClockMHz().Map(v => (int)v), "clocks.smMax", missing),
            MemMHz = TakeValue(device.MemClockMHz().Map(v => (int)v), "clocks.mem", missing),
            MemMaxMHz = TakeValue(device.MemMaxClockMHz().Map(v => (int)v), "clocks.memMax", missing),
        };
        PhaseTrace.Mark("nvml: clocks");
    }

    private static void Reliability(NvmlDevice device, GpuReport gpu, List<UnsupportedField> missing)
    {
        var ecc = device.EccEnabled();
        gpu.Ecc = new EccReport { Mode = Take(ecc.Map(OnOff), "ecc.mode", missing) };
        if (ecc.HasValue && ecc.Value)
        {
            gpu.Ecc.VolatileUncorrected = TakeValue(device.EccErrors(uncorrected: true, aggregate: false).Map(v => (long)v), "ecc.volatileUncorrected", missing);
            gpu.Ecc.AggregateUncorrected = TakeValue(device.EccErrors(uncorrected: true, aggregate: true).Map(v => (long)v), "ecc.aggregateUncorrected", missing);
            gpu.Ecc.VolatileCorrected = TakeValue(device.EccErrors(uncorrected: false, aggregate: false).Map(v => (long)v), "ecc.volatileCorrected", missing);
            gpu.Ecc.AggregateCorrected = TakeValue(device.EccErrors(uncorrected: false, aggregate: true).Map(v => (long)v), "ecc.aggregateCorrected", missing);
        }
        gpu.RetiredPages = new RetiredPagesReport
        {
            SingleBit = TakeValue(device.RetiredPages(doubleBit: false).Map(v => (int)v), "retiredPages.singleBit", missing),
            DoubleBit = TakeValue(device.RetiredPages(doubleBit: true).Map(v => (int)v), "retiredPages.doubleBit", missing),
            Pending = TakeValue(device.RetiredPagesPending(), "retiredPages.pending", missing),
        };
        var remap = device.RemappedRows();
        gpu.RowRemap = remap.HasValue
            ? new RowRemapReport { Corrected = (int)remap.Value.Corrected, Uncorrected = (int)remap.Value.Uncorrected, Pending = remap.Value.Pending, Failure = remap.Value.Failure }
            : new RowRemapReport();
        if (!remap.HasValue) missing.Add(new("rowRemap", remap.Code!));
        PhaseTrace.Mark("nvml: ecc, retired pages, row remap");
    }

    private static void LinkAndThrottle(NvmlDevice device, GpuReport gpu, List<UnsupportedField> missing)
    {
        var throttle = device.ThrottleReasons();
        gpu.ThrottleReasons = throttle.HasValue ? throttle.Value!.ToList() : null;
        if (!throttle.HasValue) missing.Add(new("throttleReasons", throttle.Code!));
        gpu.Pcie = new PcieReport
        {
            Gen = TakeValue(device.PcieGen().Map(v => (int)v), "pcie.gen", missing),
            GenMax = TakeValue(device.PcieGenMax().Map(v => (int)v), "pcie.genMax", missing),
            Width = TakeValue(device.PcieWidth().Map(v => (int)v), "pcie.width", missing),
            WidthMax = TakeValue(device.PcieWidthMax().Map(v => (int)v), "pcie.widthMax", missing),
        };
        PhaseTrace.Mark("nvml: throttle, pcie");
    }

    private static string OnOff(bool enabled) => enabled ? "enabled" : "disabled";

    private static T? Take<T>(Field<T> field, string name, List<UnsupportedField> missing) where T : class
    {
        if (!field.HasValue) missing.Add(new(name, field.Code!));
        return field.OrNullRef();
    }

    private static T? TakeValue<T>(Field<T> field, string name, List<UnsupportedField> missing) where T : struct
    {
        if (!field.HasValue) missing.Add(new(name, field.Code!));
        return field.OrNull();
    }
}
