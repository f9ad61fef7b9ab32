using System.CommandLine;
using GpuRunner.Diagnostics.Catalogue;

namespace GpuRunner.Cli.Infrastructure;

/// <summary>`--catalogue PATH` for the commands that match hardware tiers (detect, verify).</summary>
public static class CatalogueOptions
{
    public static readonly Option<string?> Catalogue = new("--catalogue")
    {
        Description = $"Hardware catalogue file (requirements/tiers.json's shape) instead of the built-in one; also {HardwareCatalogue.EnvironmentVariable}.",
        HelpName = "PATH",
    };

    /// <summary>Makes <see cref="Services.Create"/> use this command's --catalogue until disposed.</summary>
    public static IDisposable Apply(ParseResult parse) => Services.UseCatalogue(parse.GetValue(Catalogue));
}
