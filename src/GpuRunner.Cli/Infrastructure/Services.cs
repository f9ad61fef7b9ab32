using GpuRunner.Diagnostics.Catalogue;
using GpuRunner.Diagnostics.Inventory;

namespace GpuRunner.Cli.Infrastructure;

/// <summary>Composition of what detect/verify need besides the GPU layer.</summary>
public static class Services
{
    /// <summary>Tests swap this (e.g. a fixed host) without touching the commands.</summary>
    public static Func<DiagnosticsServices>? Override { get; set; }

    /// <summary>The host probe and the catalogue (GPURUNNER_CATALOGUE or the built-in one); a bad catalogue is exit 2.</summary>
    public static DiagnosticsServices Create()
    {
        if (Override is { } o) return o();
        try { return DiagnosticsServices.ForCatalogue(HardwareCatalogue.Resolve(null)); }
        catch (CatalogueException e) { throw new CommandException(e.Message, ReturnCode.UsageError, e); }
    }
}
