using System.Numerics;
using GpuRunner.Diagnostics.Smoke;

namespace GpuRunner.Diagnostics.Tests.Smoke;

public class MemoryPatternsTests
{
    private const ulong Base = 0x7f12_3400_0000; // a device-like address, 16-byte aligned

    [Fact]
    public void RandomPatternIsSplitMix64()
    {
        // SplitMix64 seeded with 0: the reference sequence (Vigna's splitmix64.c).
        ulong[] expected = [0xE220A8397B1DCDAFUL, 0x6E789E6AA1B965F4UL, 0x06C45D188009454FUL, 0xF88BB8A8724C81ECUL];
        for (var w = 0; w < expected.Length; w++)
            Assert.Equal(expected[w], MemoryPatterns.Value(MemoryPattern.Random, (ulong)w, 0, seed: 0));
    }

    [Fact]
    public void RandomPatternDependsOnSeedAndLooksRandom()
    {
        var a = new ulong[4096];
        var b = new ulong[4096];
        MemoryPatterns.Fill(a, MemoryPattern.Random, Base, 0, seed: 1);
        MemoryPatterns.Fill(b, MemoryPattern.Random, Base, 0, seed: 2);
        Assert.NotEqual(a, b);
        var ones = a.Sum(x => BitOperations.PopCount(x));
        Assert.InRange(ones / (64.0 * a.Length), 0.48, 0.52);
        Assert.Equal(a.Length, a.Distinct().Count());
    }

    [Fact]
    public void WalkingOnesSetsOneBitAndVisitsEveryPosition()
    {
        var words = new ulong[128];
        MemoryPatterns.Fill(words, MemoryPattern.WalkingOnes, Base, word0: 5, seed: 0);
        Assert.All(words, w => Assert.Equal(1, BitOperations.PopCount(w)));
        Assert.Equal(64, words.Select(BitOperations.TrailingZeroCount).Distinct().Count());
        Assert.Equal(1UL << 5, words[0]); // continues from the chunk's global word index
    }

    [Fact]
    public void AddressInAddressHoldsEachWordsAddressAndSeedInverts()
    {
        var words = new ulong[8];
        MemoryPatterns.Fill(words, MemoryPattern.AddressInAddress, Base, 0, seed: 0);
        for (var i = 0; i < words.Length; i++) Assert.Equal(Base + 8UL * (ulong)i, words[i]);
        MemoryPatterns.Fill(words, MemoryPattern.AddressInAddress, Base, 0, seed: ulong.MaxValue);
        Assert.Equal(~Base, words[0]);
    }

    [Theory]
    [InlineData(MemoryPattern.WalkingOnes)]
    [InlineData(MemoryPattern.Random)]
    [InlineData(MemoryPattern.AddressInAddress)]
    public void AFlippedBitIsReportedWithItsAddress(MemoryPattern p)
    {
        var words = new ulong[1 << 16];
        MemoryPatterns.Fill(words, p, Base, word0: 1000, seed: 42);
        var log = new List<MemoryErrorRecord>();
        Assert.Equal(0, MemoryPatterns.Verify(words, p, Base, 1000, 42, log, 16));
        Assert.Empty(log);

        words[12345] ^= 1UL << 17;
        Assert.Equal(1, MemoryPatterns.Verify(words, p, Base, 1000, 42, log, 16));
        var e = Assert.Single(log);
        Assert.Equal(Base + 8 * 12345UL, e.Address);
        Assert.Equal(1UL << 17, e.FlippedBits);
        Assert.Equal(MemoryPatterns.Name(p), e.Pattern);
        Assert.Contains($"address 0x{Base + 8 * 12345UL:x12}", e.ToString());
    }

    [Fact]
    public void AddressPatternCatchesAliasedBlocks()
    {
        // An address-line fault makes two blocks one: the second write lands on the first. The walking pattern
        // repeats every 64 words and can miss this; address-in-address cannot.
        var words = new ulong[4096];
        MemoryPatterns.Fill(words, MemoryPattern.AddressInAddress, Base, 0, 0);
        words.AsSpan(2048, 1024).CopyTo(words.AsSpan(0, 1024));
        var log = new List<MemoryErrorRecord>();
        Assert.Equal(1024, MemoryPatterns.Verify(words, MemoryPattern.AddressInAddress, Base, 0, 0, log, 4));
        Assert.Equal(4, log.Count); // counts all, logs the first few
        Assert.Equal(Base, log[0].Address);
        Assert.Equal(Base + 2048 * 8, log[0].Actual);
    }

    [Fact]
    public void DecodeReadsTheKernelLogTriples()
    {
        ulong[] raw = [0x1000, 1, 3, 0x1008, 4, 4 | 8, 0, 0, 0];
        var errors = MemoryPatterns.Decode(raw, count: 5, MemoryPattern.Random); // 5 counted, 3 slots in the log
        Assert.Equal(3, errors.Count);
        Assert.Equal(0x1008UL, errors[1].Address);
        Assert.Equal(8UL, errors[1].FlippedBits);
    }
}
