using System.Text.RegularExpressions;

namespace GpuRunner.Diagnostics.Requirements;

/// <summary>
/// Evaluates the platform part of PEP 508 environment markers for the machine the check is about (Linux x86_64):
/// true or false when the marker depends only on sys_platform / platform_system / os_name / platform_machine,
/// null when it depends on anything else (python_version, extra, ...), which callers treat as "applies".
/// </summary>
public static partial class Markers
{
    private static readonly Dictionary<string, string> Linux = new(StringComparer.Ordinal)
    {
        ["sys_platform"] = "linux", ["platform_system"] = "Linux", ["os_name"] = "posix", ["platform_machine"] = "x86_64",
    };

    public static bool? Evaluate(string marker)
    {
        var tokens = Token().Matches(marker).Select(m => m.Value).ToList();
        if (Regex.Replace(string.Concat(tokens), @"\s+", "") != Regex.Replace(marker, @"\s+", "")) return null; // odd characters
        var pos = 0;
        try
        {
            var value = Or(tokens, ref pos);
            return pos == tokens.Count ? value : null;
        }
        catch (FormatException) { return null; }
    }

    private static bool? Or(List<string> t, ref int pos)
    {
        var left = And(t, ref pos);
        while (pos < t.Count && t[pos] == "or")
        {
            pos++;
            var right = And(t, ref pos);
            left = left == true || right == true ? true : left == false && right == false ? false : null;
        }
        return left;
    }

    private static bool? And(List<string> t, ref int pos)
    {
        var left = Atom(t, ref pos);
        while (pos < t.Count && t[pos] == "and")
        {
            pos++;
            var right = Atom(t, ref pos);
            left = left == false || right == false ? false : left == true && right == true ? true : null;
        }
        return left;
    }

    private static bool? Atom(List<string> t, ref int pos)
    {
        if (pos >= t.Count) throw new FormatException();
        if (t[pos] == "(")
        {
            pos++;
            var inner = Or(t, ref pos);
            if (pos >= t.Count || t[pos] != ")") throw new FormatException();
            pos++;
            return inner;
        }
        if (pos + 2 >= t.Count) throw new FormatException();
        var (a, op, b) = (t[pos], t[pos + 1], t[pos + 2]);
        pos += 3;
        var left = Value(a);
        var right = Value(b);
        if (left is null || right is null) return null;
        return op switch
        {
            "==" => left == right,
            "!=" => left != right,
            "in" => right.Contains(left, StringComparison.Ordinal),
            "not in" => !right.Contains(left, StringComparison.Ordinal),
            _ => null, // version comparisons of platform strings are not meaningful here
        };
    }

    private static string? Value(string token)
    {
        if (token.Length >= 2 && (token[0] == '"' || token[0] == '\'')) return token[1..^1];
        return Linux.TryGetValue(token, out var v) ? v : null;
    }

    [GeneratedRegex("\"[^\"]*\"|'[^']*'|not\\s+in|===|==|!=|<=|>=|~=|<|>|\\(|\\)|[A-Za-z_][A-Za-z0-9_.]*")]
    private static partial Regex Token();
}
