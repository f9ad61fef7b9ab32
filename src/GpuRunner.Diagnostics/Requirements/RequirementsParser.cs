using System.Text.RegularExpressions;

namespace GpuRunner.Diagnostics.Requirements;

/// <summary>
/// Parses pip requirements files as pip does: comments ("#" at the start or after whitespace), backslash
/// continuations, options on their own lines (-i/--index-url, --extra-index-url, -f/--find-links, -r/-c includes
/// relative to the including file, --no-index, ...), PEP 508 requirements with extras, specifiers and markers,
/// direct wheel URLs, and per-requirement --hash options. The first malformed line is an error naming FILE:LINE.
/// </summary>
public static partial class RequirementsParser
{
    public static ParsedRequirements ParseFile(string path, Func<string, string>? readFile = null)
    {
        var state = new State(readFile ?? File.ReadAllText);
        state.Include(Path.GetFullPath(path), path, from: null);
        return new ParsedRequirements(state.Entries, new PipOptions
        {
            IndexUrl = state.IndexUrl,
            ExtraIndexUrls = state.Extra,
            FindLinks = state.FindLinks,
            NoIndex = state.NoIndex,
        }, state.Notes);
    }

    /// <summary>Parses text as if it were the file <paramref name="displayName"/> (includes resolve against the working directory).</summary>
    public static ParsedRequirements ParseText(string text, string displayName = "requirements.txt") =>
        ParseFile(displayName, p => Path.GetFullPath(p) == Path.GetFullPath(displayName) ? text : File.ReadAllText(p));

    private sealed class State(Func<string, string> read)
    {
        public readonly List<RequirementEntry> Entries = [];
        public readonly List<string> Extra = [], FindLinks = [], Notes = [];
        public string? IndexUrl;
        public bool NoIndex;
        private readonly HashSet<string> _open = [];

        public void Include(string fullPath, string shown, (string File, int Line)? from)
        {
            if (!_open.Add(fullPath))
                throw new RequirementsException($"{Where(from)}: -r {shown} includes itself (an include cycle)");
            string text;
            try { text = read(fullPath); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
            {
                var what = e is FileNotFoundException or DirectoryNotFoundException ? "no such file" : e.Message;
                throw new RequirementsException(from is null ? $"{shown}: cannot read: {what}" : $"{Where(from)}: cannot read included file {shown}: {what}", e);
            }
            if (text.Contains('\0'))
                throw new RequirementsException($"{shown}: not a text file");
            foreach (var (line, number) in LogicalLines(text))
                ParseLine(line, shown, number, fullPath);
            _open.Remove(fullPath);
        }

        private static string Where((string File, int Line)? at) => at is { } a ? $"{a.File}:{a.Line}" : "";

        private void ParseLine(string line, string file, int number, string fullPath)
        {
            var at = $"{file}:{number}";
            if (line.StartsWith('-'))
            {
                ParseOption(line, file, number, fullPath);
                return;
            }
            Entries.Add(ParseRequirement(line, file, number) ?? throw new RequirementsException($"{at}: cannot parse '{line}' as a requirement"));
        }

        private void ParseOption(string line, string file, int number, string fullPath)
        {
            var at = $"{file}:{number}";
            var tokens = Tokens().Split(line.Trim()).Where(t => t.Length > 0).ToList();
            for (var i = 0; i < tokens.Count; i++)
            {
                var token = tokens[i];
                string name = token;
                string? value = null;
                var eq = token.IndexOf('=');
                if (token.StartsWith("--") && eq > 0) { name = token[..eq]; value = token[(eq + 1)..]; }
                else if (token.Length > 2 && token[0] == '-' && token[1] != '-' && token[1] is 'i' or 'f' or 'r' or 'c' or 'e')
                { name = token[..2]; value = token[2..]; } // "-rother.txt", "-fhttps://..."

                string Value()
                {
                    if (value is { Length: > 0 }) return value;
                    if (i + 1 < tokens.Count) return tokens[++i];
                    throw new RequirementsException($"{at}: {name} needs a value");
                }

                switch (name)
                {
                    case "-i" or "--index-url": IndexUrl = Value(); break;
                    case "--extra-index-url": Extra.Add(Value()); break;
                    case "-f" or "--find-links": FindLinks.Add(Value()); break;
                    case "--no-index": NoIndex = true; break;
                    case "-r" or "--requirement":
                    {
                        var target = Value();
                        var full = Path.IsPathRooted(target) ? target : Path.Combine(Path.GetDirectoryName(fullPath)!, target);
                        var shown = Path.IsPathRooted(target) ? target : Path.Combine(Path.GetDirectoryName(file) ?? "", target);
                        Include(Path.GetFullPath(full), shown, (file, number));
                        break;
                    }
                    case "-c" or "--constraint":
                        Notes.Add($"{at}: constraints file {Value()} not checked (constraints install nothing)");
                        break;
                    case "-e" or "--editable":
                        Notes.Add($"{at}: editable install {Value()} not checked");
                        break;
                    case "--trusted-host" or "--no-binary" or "--only-binary" or "--use-feature" or "--progress-bar":
                        Value();
                        break;
                    case "--pre" or "--prefer-binary" or "--require-hashes" or "--no-deps":
                        break;
                    default:
                        throw new RequirementsException($"{at}: unknown pip option '{name}'");
                }
            }
        }
    }

    /// <summary>Lines with comments removed and continuations joined, each with the number of its first line.</summary>
    internal static IEnumerable<(string Line, int Number)> LogicalLines(string text)
    {
        var lines = text.Replace("\r\n", "\n").Split('\n');
        var buffer = "";
        var start = 0;
        for (var i = 0; i < lines.Length; i++)
        {
            var raw = lines[i];
            if (buffer.Length == 0) start = i + 1;
            // pip strips comments before joining: a "#" at the start or after whitespace ends the line.
            var stripped = Comment().Replace(raw, "");
            if (stripped.EndsWith('\\'))
            {
                buffer += stripped[..^1];
                if (i < lines.Length - 1) continue;
            }
            else buffer += stripped;
            var line = buffer.Trim();
            buffer = "";
            if (line.Length > 0) yield return (line, start);
        }
    }

    internal static RequirementEntry? ParseRequirement(string line, string file, int number)
    {
        // Per-requirement options (--hash=..., --config-settings ...) follow the requirement after whitespace.
        var options = PerRequirementOption().Match(line);
        var requirement = (options.Success ? line[..options.Index] : line).Trim();
        var shown = Tokens().Replace(requirement, " "); // as written, continuations folded, --hash dropped

        string? marker = null;
        string? url = null;
        string namePart;
        var at = requirement.IndexOf(" @ ", StringComparison.Ordinal);
        if (at < 0) at = requirement.IndexOf('@') is var a && a > 0 && !requirement[..a].Contains("://") ? a : -1;
        if (at > 0)
        {
            // "name[extras] @ url ; marker": a URL's marker needs whitespace before ';'.
            namePart = requirement[..at].Trim();
            var rest = requirement[(at + 1)..].Trim().TrimStart('@').Trim();
            var semi = rest.IndexOf(" ;", StringComparison.Ordinal);
            if (semi >= 0) { marker = rest[(semi + 2)..].Trim(); rest = rest[..semi].Trim(); }
            url = rest;
            if (url.Length == 0) return null;
        }
        else if (requirement.Contains("://") || requirement.EndsWith(".whl", StringComparison.OrdinalIgnoreCase))
        {
            var semi = requirement.IndexOf(" ;", StringComparison.Ordinal);
            if (semi >= 0) { marker = requirement[(semi + 2)..].Trim(); requirement = requirement[..semi].Trim(); }
            url = requirement;
            var wheel = Wheel.Parse(url);
            if (wheel is null) return null;
            return new RequirementEntry
            {
                File = file, Line = number, Text = shown, Name = Normalize(wheel.Value.Name), PinnedVersion = wheel.Value.Version,
                Local = wheel.Value.Local, Url = url, Marker = marker, MarkerApplies = marker is null ? true : Markers.Evaluate(marker),
            };
        }
        else
        {
            var semi = requirement.IndexOf(';');
            if (semi >= 0) { marker = requirement[(semi + 1)..].Trim(); requirement = requirement[..semi].Trim(); }
            namePart = requirement;
        }

        var m = NameExtrasSpec().Match(namePart);
        if (!m.Success) return null;
        var extras = m.Groups["extras"].Success
            ? m.Groups["extras"].Value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(e => e.ToLowerInvariant()).ToList()
            : [];
        if (extras.Any(e => !ExtraName().IsMatch(e))) return null;
        var spec = m.Groups["spec"].Value.Trim();
        if (spec.StartsWith('(') && spec.EndsWith(')')) spec = spec[1..^1].Trim();
        string? pinned = null, local = null;
        if (spec.Length > 0)
        {
            var clauses = spec.Split(',', StringSplitOptions.TrimEntries);
            foreach (var clause in clauses)
            {
                var c = Clause().Match(clause);
                if (!c.Success) return null;
                if (clauses.Length == 1 && c.Groups["op"].Value is "==" or "===" && !c.Groups["version"].Value.Contains('*'))
                {
                    var version = c.Groups["version"].Value;
                    var plus = version.IndexOf('+');
                    pinned = plus >= 0 ? version[..plus] : version;
                    local = plus >= 0 ? version[(plus + 1)..].ToLowerInvariant() : null;
                }
            }
        }
        if (url is not null && Wheel.Parse(url) is { } w) { pinned ??= w.Version; local ??= w.Local; }
        return new RequirementEntry
        {
            File = file, Line = number, Text = shown, Name = Normalize(m.Groups["name"].Value), Extras = extras,
            Specifier = spec.Length > 0 ? spec : null, PinnedVersion = pinned, Local = local, Marker = marker, Url = url,
            MarkerApplies = marker is null ? true : Markers.Evaluate(marker),
        };
    }

    public static string Normalize(string name) => Separators().Replace(name, "-").ToLowerInvariant();

    [GeneratedRegex(@"(^|\s)#.*$")]
    private static partial Regex Comment();
    [GeneratedRegex(@"\s+")]
    private static partial Regex Tokens();
    [GeneratedRegex(@"\s--(hash|config-settings|global-option|install-option)\b")]
    private static partial Regex PerRequirementOption();
    [GeneratedRegex(@"^(?<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?:\[(?<extras>[^\]]*)\])?\s*(?<spec>[(<>=!~].*)?$")]
    private static partial Regex NameExtrasSpec();
    [GeneratedRegex(@"^[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?$")]
    private static partial Regex ExtraName();
    [GeneratedRegex(@"^(?<op>===|==|!=|<=|>=|~=|<|>)\s*(?<version>[A-Za-z0-9][A-Za-z0-9.*+!_-]*)$")]
    private static partial Regex Clause();
    [GeneratedRegex(@"[-_.]+")]
    private static partial Regex Separators();
}

/// <summary>A wheel file name: name-version(-build)?-python-abi-platform.whl, %2B-decoded.</summary>
internal static class Wheel
{
    public static (string Name, string Version, string? Local)? Parse(string url)
    {
        var file = Uri.UnescapeDataString(url.Split('#', '?')[0].TrimEnd('/').Split('/')[^1]);
        if (!file.EndsWith(".whl", StringComparison.OrdinalIgnoreCase)) return null;
        var parts = file[..^4].Split('-');
        if (parts.Length < 5) return null;
        var version = parts[1];
        var plus = version.IndexOf('+');
        return (parts[0], plus >= 0 ? version[..plus] : version, plus >= 0 ? version[(plus + 1)..].ToLowerInvariant() : null);
    }
}
