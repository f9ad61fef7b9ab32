using GpuRunner.Diagnostics.Text;

namespace GpuRunner.Diagnostics.Tests.Text;

public class SuggestionsTests
{
    private static readonly string[] Flavors = ["cpu-basic", "cpu-upgrade", "t4-small", "t4-medium", "a10g-small", "a10g-large", "a100-large"];

    [Theory]
    [InlineData("a10g", "a10g-small,a10g-large")] // a prefix ranks before anything merely close
    [InlineData("t4", "t4-small,t4-medium")]
    [InlineData("a10g-smal", "a10g-small")]
    [InlineData("cpu-basci", "cpu-basic")] // a transposition is two edits: still close
    [InlineData("a100-larg", "a100-large,a10g-large")] // the prefix first, then the near miss
    [InlineData("h200", "")] // nothing close: no guess
    public void RanksByPrefixThenEditDistance(string typed, string expected)
    {
        Assert.Equal(expected.Split(',', StringSplitOptions.RemoveEmptyEntries), Suggestions.For(typed, Flavors));
    }

    [Fact]
    public void HintReadsAsASentence()
    {
        Assert.Equal(" (did you mean t4-small or t4-medium?)", Suggestions.Hint("t4", Flavors));
        Assert.Equal(" (did you mean cpu-basic?)", Suggestions.Hint("cpu-basc", Flavors));
        Assert.Equal("", Suggestions.Hint("zzz", Flavors));
    }

    [Theory]
    [InlineData("", "", 0)]
    [InlineData("kitten", "sitting", 3)]
    [InlineData("verify", "verfy", 1)]
    public void DistanceIsLevenshtein(string a, string b, int d) => Assert.Equal(d, Suggestions.Distance(a, b));
}
