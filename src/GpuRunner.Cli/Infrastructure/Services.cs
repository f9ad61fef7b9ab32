using GpuRunner.Diagnostics.Catalogue;
using GpuRunner.Diagnostics.Inventory;

namespace GpuRunner.Cli.Infrastructure;

/// <summary>Composition of what detect/verify need besides the GPU layer.</summary>
public static class Services
{
    /// <summary>Tests swap this (e.g. a fixed host) without touching the commands.</summary>
    public static Func<DiagnosticsServices>? Override { get; set; }

    // --catalogue of the running command; async-local so commands running side by side (tests) stay apart.
    private static readonly AsyncLocal<string?> CataloguePath = new();

    /// <summary>Uses <paramref name="path"/> (--catalogue) for this command; disposing restores the previous choice.</summary>
    public static IDisposable UseCatalogue(string? path)
    {
        var previous = CataloguePath.Value;
        CataloguePath.Value = path;
        return new Restore(() => CataloguePath.Value = previous);
    }

    private sealed class Restore(Action undo) : IDisposable
    {
        public void Dispose() => undo();
    }

    /// <summary>The host probe and the catalogue (--catalogue, GPURUNNER_CATALOGUE or the built-in one); a bad catalogue is exit 2.</summary>
    public static DiagnosticsServices Create()
    {
        if (Override is { } o) return o();
        try { return DiagnosticsServices.ForCatalogue(HardwareCatalogue.Resolve(CataloguePath.Value)); }
        catch (CatalogueException e) { throw new CommandException(e.Message, ReturnCode.UsageError, e); }
    }
}
