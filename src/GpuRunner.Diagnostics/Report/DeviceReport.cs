using System.Text.Json.Serialization;
using GpuRunner.Diagnostics.Catalogue;
using GpuRunner.Diagnostics.Host;

namespace GpuRunner.Diagnostics.Report;

// The device report of docs/contracts.md. Plain data; filled by Inventory/ and Checks/, printed by the CLI.

public sealed class DeviceReport
{
    public string Schema { get; set; } = "gpurunner.report/1";
    public ToolInfo Tool { get; set; } = new();
    public DateTime Timestamp { get; set; } = new(DateTime.UtcNow.Ticks / TimeSpan.TicksPerSecond * TimeSpan.TicksPerSecond, DateTimeKind.Utc);
    public HostFacts? Host { get; set; }
    public DriverReport Driver { get; set; } = new();
    public List<GpuReport> Gpus { get; set; } = [];
    public TierMatch? Tier { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public List<CheckReport>? Checks { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Verdict { get; set; }
}

public sealed class ToolInfo
{
    public string Version { get; set; } = typeof(ToolInfo).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";
}

public sealed class DriverReport
{
    public bool Loaded { get; set; }
    public string? NvmlLibrary { get; set; }
    public string? CudaLibrary { get; set; }
    public string? DriverVersion { get; set; }
    public string? CudaDriverVersion { get; set; }
    /// <summary>Why NVML could not report (e.g. "NVML_ERROR_DRIVER_NOT_LOADED: Driver Not Loaded"); null when it did.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Error { get; set; }
    public List<string> SearchTrace { get; set; } = [];
}

public sealed class GpuReport
{
    public int Index { get; set; }
    public string? Name { get; set; }
    public string? Uuid { get; set; }
    public string? PciBusId { get; set; }
    public long? MemoryTotalMiB { get; set; }
    public long? MemoryUsedMiB { get; set; }
    /// <summary>Held back by the driver (nvmlDeviceGetMemoryInfo_v2); 0 where only v1 answered.</summary>
    public long? MemoryReservedMiB { get; set; }
    public long? MemoryFreeMiB { get; set; }
    public string? ComputeCapability { get; set; }
    public string? MigMode { get; set; }
    public string? PersistenceMode { get; set; }
    public int? TemperatureC { get; set; }
    public double? PowerDrawW { get; set; }
    public double? PowerLimitW { get; set; }
    public ClockReport Clocks { get; set; } = new();
    public EccReport Ecc { get; set; } = new();
    public RetiredPagesReport RetiredPages { get; set; } = new();
    public RowRemapReport RowRemap { get; set; } = new();
    public List<string>? ThrottleReasons { get; set; }
    public PcieReport Pcie { get; set; } = new();
    public List<UnsupportedField> Unsupported { get; set; } = [];
}

public sealed class ClockReport
{
    public int? SmMHz { get; set; }
    public int? SmMaxMHz { get; set; }
    public int? MemMHz { get; set; }
    public int? MemMaxMHz { get; set; }
}

public sealed class EccReport
{
    public string? Mode { get; set; }
    public long? VolatileUncorrected { get; set; }
    public long? AggregateUncorrected { get; set; }
    public long? VolatileCorrected { get; set; }
    public long? AggregateCorrected { get; set; }
}

public sealed class RetiredPagesReport
{
    public int? SingleBit { get; set; }
    public int? DoubleBit { get; set; }
    public bool? Pending { get; set; }
}

public sealed class RowRemapReport
{
    public int? Corrected { get; set; }
    public int? Uncorrected { get; set; }
    public bool? Pending { get; set; }
    public bool? Failure { get; set; }
}

public sealed class PcieReport
{
    public int? Gen { get; set; }
    public int? GenMax { get; set; }
    public int? Width { get; set; }
    public int? WidthMax { get; set; }
}

public sealed record UnsupportedField(string Field, string Code);

public sealed class CheckReport
{
    public string Id { get; set; } = "";
    public string Title { get; set; } = "";
    public string Status { get; set; } = "";
    public string Evidence { get; set; } = "";
    public DiagnosisReport? Diagnosis { get; set; }
    public double Seconds { get; set; }
}

public sealed record DiagnosisReport(string Cause, string Fix);

/// <summary>Source-generated (trim/AOT-safe) JSON for the report: camelCase, nulls kept (contract: n/a is null).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(DeviceReport))]
public sealed partial class ReportJsonContext : JsonSerializerContext;
