namespace GpuRunner.Native;

/// <summary>
/// A value read from the driver, or "n/a" with the driver's code (e.g. NVML_ERROR_NOT_SUPPORTED). A device that
/// lacks a sensor is normal (no power readings on many vGPUs, no ECC on GeForce), so reads never throw.
/// </summary>
public readonly record struct Field<T>(T? Value, bool HasValue, string? Code)
{
    public static Field<T> Of(T value) => new(value, true, null);
    public static Field<T> NotAvailable(string code) => new(default, false, code);
    public Field<TOut> Map<TOut>(Func<T, TOut> map) => HasValue ? Field<TOut>.Of(map(Value!)) : Field<TOut>.NotAvailable(Code!);
    public override string ToString() => HasValue ? $"{Value}" : $"n/a ({Code})";
}

public static class FieldExtensions
{
    public static T? OrNull<T>(this Field<T> field) where T : struct => field.HasValue ? field.Value : null;
    public static T? OrNullRef<T>(this Field<T> field) where T : class => field.HasValue ? field.Value : null;
}

/// <summary>A driver library could not be loaded: carries where the loader looked.</summary>
public sealed class DriverLibraryNotFoundException(Loading.LoadResult result)
    : Exception($"{result.FileName} not found ({result.Trace.Count} places tried)")
{
    public Loading.LoadResult Result { get; } = result;
}

/// <summary>A symbol is missing from the loaded library (a driver too old for the call, or a wrong library).</summary>
public sealed class DriverSymbolMissingException(string library, string function, Exception inner)
    : Exception($"{library} has no entry point {function} (driver too old, or not the NVIDIA library)", inner)
{
    public string Library { get; } = library;
    public string Function { get; } = function;
}
