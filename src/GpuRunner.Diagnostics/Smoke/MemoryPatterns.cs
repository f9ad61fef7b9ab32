using System.Runtime.CompilerServices;

namespace GpuRunner.Diagnostics.Smoke;

public enum MemoryPattern { WalkingOnes, Random, AddressInAddress }

/// <summary>
/// The memtest patterns, word by word. Each 64-bit word's value depends only on its global word index, its address
/// and the seed, so a GPU kernel regenerates it anywhere (Kernels/smoke_kernels.cu has the same three functions and
/// must stay bit-identical). Host versions here serve the unit tests and the host-memory verifier.
/// </summary>
public static class MemoryPatterns
{
    public static IReadOnlyList<MemoryPattern> All { get; } = [MemoryPattern.WalkingOnes, MemoryPattern.Random, MemoryPattern.AddressInAddress];

    public static string Name(MemoryPattern p) => p switch
    {
        MemoryPattern.WalkingOnes => "walking-ones",
        MemoryPattern.Random => "random",
        MemoryPattern.AddressInAddress => "address",
        _ => throw new ArgumentOutOfRangeException(nameof(p)),
    };

    /// <summary>Kernel suffix in the PTX (gr_mt_write_X / gr_mt_verify_X).</summary>
    public static string KernelSuffix(MemoryPattern p) => p switch
    {
        MemoryPattern.WalkingOnes => "walk",
        MemoryPattern.Random => "random",
        MemoryPattern.AddressInAddress => "address",
        _ => throw new ArgumentOutOfRangeException(nameof(p)),
    };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Value(MemoryPattern p, ulong word, ulong address, ulong seed) => p switch
    {
        MemoryPattern.WalkingOnes => 1UL << (int)((word + seed) & 63),
        MemoryPattern.Random => SplitMix64(seed + (word + 1) * 0x9E3779B97F4A7C15UL),
        MemoryPattern.AddressInAddress => address ^ seed,
        _ => throw new ArgumentOutOfRangeException(nameof(p)),
    };

    /// <summary>SplitMix64's output function (Steele, Lea, Flood 2014): a strong 64-bit mix of a counter.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong SplitMix64(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Fills words as the write kernel does. <paramref name="baseAddress"/> is the address of words[0] as the
    /// device sees it; <paramref name="word0"/> the global index of words[0] across all chunks.</summary>
    public static void Fill(Span<ulong> words, MemoryPattern p, ulong baseAddress, ulong word0, ulong seed)
    {
        for (var i = 0; i < words.Length; i++)
            words[i] = Value(p, word0 + (ulong)i, baseAddress + 8UL * (ulong)i, seed);
    }

    /// <summary>Verifies as the verify kernel does: counts every mismatch and logs the first <paramref name="maxLogged"/>.</summary>
    public static long Verify(ReadOnlySpan<ulong> words, MemoryPattern p, ulong baseAddress, ulong word0, ulong seed,
        List<MemoryErrorRecord> log, int maxLogged)
    {
        long errors = 0;
        for (var i = 0; i < words.Length; i++)
        {
            var address = baseAddress + 8UL * (ulong)i;
            var expected = Value(p, word0 + (ulong)i, address, seed);
            if (words[i] == expected) continue;
            if (errors++ < maxLogged) log.Add(new MemoryErrorRecord(address, expected, words[i], Name(p)));
        }
        return errors;
    }

    /// <summary>Turns the verify kernel's raw log ({address, expected, actual} triples) into records.</summary>
    public static List<MemoryErrorRecord> Decode(ReadOnlySpan<ulong> triples, long count, MemoryPattern p)
    {
        var n = (int)Math.Min(count, triples.Length / 3);
        var list = new List<MemoryErrorRecord>(n);
        for (var i = 0; i < n; i++) list.Add(new MemoryErrorRecord(triples[3 * i], triples[3 * i + 1], triples[3 * i + 2], Name(p)));
        return list;
    }
}
