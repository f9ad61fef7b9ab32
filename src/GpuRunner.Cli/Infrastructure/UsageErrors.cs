using System.CommandLine;
using System.CommandLine.Parsing;
using System.Text.RegularExpressions;
using GpuRunner.Diagnostics.Text;

namespace GpuRunner.Cli.Infrastructure;

/// <summary>
/// What the user sees for a command line that does not parse: one plain line per mistake (no .NET type names, no
/// second error caused by the first) and "Try 'gpurunner X --help'." naming the command that was meant. Exit 2.
/// </summary>
public static partial class UsageErrors
{
    public const string Program = "gpurunner";

    /// <summary>`gpurunner` alone and `gpurunner help [COMMAND...]` are requests for help.</summary>
    public static string[] RewriteHelp(string[] args) =>
        args.Length == 0 ? ["--help"]
        : args[0] == "help" ? [.. args[1..], "--help"]
        : args;

    /// <summary>A command that only groups others (`gpurunner spaces`) given alone: its help, not an error.</summary>
    public static bool IsBareGroup(ParseResult parse) =>
        parse.CommandResult.Command is { Subcommands.Count: > 0, Action: null } && parse.UnmatchedTokens.Count == 0 && parse.Errors.Count == 1;

    public static int Report(ParseResult parse, TextWriter error)
    {
        foreach (var line in Lines(parse)) error.WriteLine($"{Program}: usage: {line}");
        error.WriteLine($"Try '{CommandPath(parse.CommandResult)} --help'.");
        return (int)ReturnCode.UsageError;
    }

    public static IEnumerable<string> Lines(ParseResult parse)
    {
        var command = parse.CommandResult.Command;
        var lines = new List<string>();
        if (parse.UnmatchedTokens.FirstOrDefault() is { } token)
        {
            // The first stray token is the mistake; "required command not provided" is only its echo.
            lines.Add(token.StartsWith('-')
                ? $"unknown option '{token}' for '{CommandPath(parse.CommandResult)}'{Suggestions.Hint(token, command.Options.SelectMany(o => o.Aliases.Prepend(o.Name)))}"
                : command.Subcommands.Count > 0
                    ? $"unknown command '{token}'{Suggestions.Hint(token, command.Subcommands.Where(c => !c.Hidden).Select(c => c.Name))}"
                    : $"unexpected argument '{token}'");
        }
        foreach (var e in parse.Errors)
        {
            if (parse.UnmatchedTokens.Any(t => e.Message.Contains($"'{t}'", StringComparison.Ordinal))) continue;
            if (parse.UnmatchedTokens.Count > 0 && e.SymbolResult is CommandResult && command.Subcommands.Count > 0) continue;
            var line = Plain(e.Message);
            if (!lines.Contains(line)) lines.Add(line);
        }
        return lines;
    }

    /// <summary>One line, in the user's terms: "--timeout: 'abc' is not a number" rather than the parser's type name.</summary>
    public static string Plain(string message)
    {
        var m = CannotParse().Match(message);
        if (m.Success)
            return $"{m.Groups["symbol"].Value}: '{m.Groups["value"].Value}' is not {Kind(m.Groups["type"].Value)}";
        var oneLine = Whitespace().Replace(message, " ").Trim();
        oneLine = TypeName().Replace(oneLine, "a value");
        return oneLine.TrimEnd('.');
    }

    private static string Kind(string type) =>
        type.Contains("Double") || type.Contains("Single") || type.Contains("Decimal") ? "a number"
        : type.Contains("Int") ? "a whole number"
        : type.Contains("Boolean") ? "true or false"
        : "a valid value";

    public static string CommandPath(CommandResult result)
    {
        var names = new List<string>();
        for (SymbolResult? r = result; r is CommandResult c; r = c.Parent)
            names.Add(c.Command is RootCommand ? Program : c.Command.Name);
        names.Reverse();
        return string.Join(' ', names);
    }

    [GeneratedRegex(@"^Cannot parse argument '(?<value>.*)' for (?:option|command|argument) '(?<symbol>[^']*)' as expected type '(?<type>[^']*)'\.?$", RegexOptions.Singleline)]
    private static partial Regex CannotParse();

    [GeneratedRegex(@"\s*[\r\n]+\s*")]
    private static partial Regex Whitespace();

    /// <summary>A .NET type name that would otherwise leak (System.Nullable`1[System.Double], GpuRunner.X+Y).</summary>
    [GeneratedRegex(@"'?\b(?:System|GpuRunner|Microsoft)\.[\w.`+\[\],]+'?")]
    private static partial Regex TypeName();
}
