using System.CommandLine;
using GpuRunner.Diagnostics.Catalogue;

namespace GpuRunner.Cli.Infrastructure;

/// <summary>`--catalogue PATH` for commands that match hardware tiers (detect, verify).</summary>
public static class CatalogueOptions
{
    public static readonly Option<string?> Catalogue = new("--catalogue")
    {
        Description = $"Hardware catalogue file (tiers.json's shape) instead of the built-in one; also {HardwareCatalogue.EnvironmentVariable}.",
        HelpName = "PATH",
    };

    /// <summary>The catalogue to use; a bad or missing file is exit 2 with one line.</summary>
    public static HardwareCatalogue Load(ParseResult parse)
    {
        try { return HardwareCatalogue.Resolve(parse.GetValue(Catalogue)); }
        catch (CatalogueException e) { throw new CommandException(e.Message, ReturnCode.UsageError, e); }
    }
}
