namespace GpuRunner.Native.Nvml;

/// <summary>nvmlReturn_t. Values from nvml.h.</summary>
public enum NvmlReturn
{
    Success = 0, Uninitialized = 1, InvalidArgument = 2, NotSupported = 3, NoPermission = 4,
    AlreadyInitialized = 5, NotFound = 6, InsufficientSize = 7, InsufficientPower = 8, DriverNotLoaded = 9,
    Timeout = 10, IrqIssue = 11, LibraryNotFound = 12, FunctionNotFound = 13, CorruptedInforom = 14,
    GpuIsLost = 15, ResetRequired = 16, OperatingSystem = 17, LibRmVersionMismatch = 18, InUse = 19,
    Memory = 20, NoData = 21, VgpuEccNotSupported = 22, InsufficientResources = 23, FreqNotSupported = 24,
    ArgumentVersionMismatch = 25, Deprecated = 26, NotReady = 27, GpuNotFound = 28, InvalidState = 29,
    Unknown = 999,
}

public static class NvmlReturnNames
{
    /// <summary>The symbolic name users can search for, e.g. NVML_ERROR_LIB_RM_VERSION_MISMATCH.</summary>
    public static string SymbolOf(NvmlReturn code) => code switch
    {
        NvmlReturn.Success => "NVML_SUCCESS",
        NvmlReturn.Uninitialized => "NVML_ERROR_UNINITIALIZED",
        NvmlReturn.InvalidArgument => "NVML_ERROR_INVALID_ARGUMENT",
        NvmlReturn.NotSupported => "NVML_ERROR_NOT_SUPPORTED",
        NvmlReturn.NoPermission => "NVML_ERROR_NO_PERMISSION",
        NvmlReturn.AlreadyInitialized => "NVML_ERROR_ALREADY_INITIALIZED",
        NvmlReturn.NotFound => "NVML_ERROR_NOT_FOUND",
        NvmlReturn.InsufficientSize => "NVML_ERROR_INSUFFICIENT_SIZE",
        NvmlReturn.InsufficientPower => "NVML_ERROR_INSUFFICIENT_POWER",
        NvmlReturn.DriverNotLoaded => "NVML_ERROR_DRIVER_NOT_LOADED",
        NvmlReturn.Timeout => "NVML_ERROR_TIMEOUT",
        NvmlReturn.IrqIssue => "NVML_ERROR_IRQ_ISSUE",
        NvmlReturn.LibraryNotFound => "NVML_ERROR_LIBRARY_NOT_FOUND",
        NvmlReturn.FunctionNotFound => "NVML_ERROR_FUNCTION_NOT_FOUND",
        NvmlReturn.CorruptedInforom => "NVML_ERROR_CORRUPTED_INFOROM",
        NvmlReturn.GpuIsLost => "NVML_ERROR_GPU_IS_LOST",
        NvmlReturn.ResetRequired => "NVML_ERROR_RESET_REQUIRED",
        NvmlReturn.OperatingSystem => "NVML_ERROR_OPERATING_SYSTEM",
        NvmlReturn.LibRmVersionMismatch => "NVML_ERROR_LIB_RM_VERSION_MISMATCH",
        NvmlReturn.InUse => "NVML_ERROR_IN_USE",
        NvmlReturn.Memory => "NVML_ERROR_MEMORY",
        NvmlReturn.NoData => "NVML_ERROR_NO_DATA",
        NvmlReturn.VgpuEccNotSupported => "NVML_ERROR_VGPU_ECC_NOT_SUPPORTED",
        NvmlReturn.InsufficientResources => "NVML_ERROR_INSUFFICIENT_RESOURCES",
        NvmlReturn.FreqNotSupported => "NVML_ERROR_FREQ_NOT_SUPPORTED",
        NvmlReturn.ArgumentVersionMismatch => "NVML_ERROR_ARGUMENT_VERSION_MISMATCH",
        NvmlReturn.Deprecated => "NVML_ERROR_DEPRECATED",
        NvmlReturn.NotReady => "NVML_ERROR_NOT_READY",
        NvmlReturn.GpuNotFound => "NVML_ERROR_GPU_NOT_FOUND",
        NvmlReturn.InvalidState => "NVML_ERROR_INVALID_STATE",
        NvmlReturn.Unknown => "NVML_ERROR_UNKNOWN",
        _ => $"NVML_ERROR_{(int)code}",
    };
}

/// <summary>An NVML call failed. Carries the code, its symbol and nvmlErrorString's text.</summary>
public sealed class NvmlException(string function, NvmlReturn code, string text)
    : Exception($"{function} failed: {NvmlReturnNames.SymbolOf(code)} ({text})")
{
    public string Function { get; } = function;
    public NvmlReturn Code { get; } = code;
    public string Symbol => NvmlReturnNames.SymbolOf(Code);
    /// <summary>nvmlErrorString's text, e.g. "Driver/library version mismatch".</summary>
    public string Text { get; } = text;
}
