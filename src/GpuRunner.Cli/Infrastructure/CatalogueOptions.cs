using System.CommandLine;
using GpuRunner.Diagnostics.Catalogue;
using GpuRunner.Diagnostics.Inventory;

namespace GpuRunner.Cli.Infrastructure;

/// <summary>`--catalogue PATH` for commands that match hardware tiers (detect, verify).</summary>
public static class CatalogueOptions
{
    public static readonly Option<string?> Catalogue = new("--catalogue")
    {
        Description = $"Hardware catalogue file (tiers.json's shape) instead of the built-in one; also {HardwareCatalogue.EnvironmentVariable}.",
        HelpName = "PATH",
    };

    /// <summary>
    /// Points the diagnostics at the catalogue chosen by --catalogue or GPURUNNER_CATALOGUE (the built-in one
    /// otherwise); a bad or missing file is exit 2 with one line.
    /// </summary>
    public static IDisposable? Apply(ParseResult parse)
    {
        if (parse.GetValue(Catalogue) is null && Environment.GetEnvironmentVariable(HardwareCatalogue.EnvironmentVariable) is not { Length: > 0 })
            return null; // the built-in catalogue is already the default
        return DiagnosticsServices.Use(new DiagnosticsServices(DiagnosticsServices.Current.Host, new CatalogueTierMatcher(Load(parse))));
    }

    /// <summary>The catalogue to use; a bad or missing file is exit 2 with one line.</summary>
    public static HardwareCatalogue Load(ParseResult parse)
    {
        try { return HardwareCatalogue.Resolve(parse.GetValue(Catalogue)); }
        catch (CatalogueException e) { throw new CommandException(e.Message, ReturnCode.UsageError, e); }
    }
}
