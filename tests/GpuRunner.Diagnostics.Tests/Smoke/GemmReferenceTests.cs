using GpuRunner.Diagnostics.Smoke.Cuda;

namespace GpuRunner.Diagnostics.Tests.Smoke;

/// <summary>The host side of the GEMM check: inputs, bf16 rounding, and the sampled reference that judges cuBLAS.</summary>
public class GemmReferenceTests
{
    [Theory]
    [InlineData(1.0f, 0x3F80)]
    [InlineData(-2.5f, 0xC020)]
    [InlineData(1.00390625f, 0x3F80)]  // exactly halfway between 1 and the next bf16: ties to even (down)
    [InlineData(1.01171875f, 0x3F82)]  // halfway between 0x3F81 and 0x3F82: ties to even (up)
    [InlineData(1.005f, 0x3F81)]       // above halfway: up
    public void Bf16RoundsToNearestEven(float value, int bits) => Assert.Equal((ushort)bits, CudaSmokeDevice.FloatToBf16(value));

    [Fact]
    public void InputsAreDeterministicNonZeroAndInRange()
    {
        var (a, b) = CudaSmokeDevice.GemmInputs(64, bf16: true, seed: 7);
        var (a2, _) = CudaSmokeDevice.GemmInputs(64, bf16: true, seed: 7);
        Assert.Equal(a, a2);
        Assert.NotEqual(a, b);
        var values = a.Select(CudaSmokeDevice.Bf16ToFloat).ToArray();
        Assert.All(values, v => Assert.InRange(v, -1f, 1f));
        Assert.True(values.Count(v => v == 0) < 4, "inputs must not be (mostly) zeros");
        Assert.InRange(values.Average(), -0.1, 0.1);
    }

    [Fact]
    public void SampledReferenceAcceptsARightProductAndRejectsAWrongOne()
    {
        const int n = 96;
        var (a, b) = CudaSmokeDevice.GemmInputs(n, bf16: true, seed: 3);
        var c = new float[n * n];
        for (var col = 0; col < n; col++)
        for (var row = 0; row < n; row++)
        {
            double sum = 0;
            for (var k = 0; k < n; k++)
                sum += CudaSmokeDevice.Bf16ToFloat(a[k * n + row]) * CudaSmokeDevice.Bf16ToFloat(b[col * n + k]);
            c[col * n + row] = (float)sum;
        }
        var right = CudaSmokeDevice.SampledRelativeError(a, b, i => c[i], n, CudaSmokeDevice.Bf16ToFloat);
        Assert.InRange(right, 0, 1e-6);

        // Rounded to bf16 like cuBLAS's bf16 output: still well inside the 2e-2 limit.
        var rounded = CudaSmokeDevice.SampledRelativeError(a, b, i => CudaSmokeDevice.Bf16ToFloat(CudaSmokeDevice.FloatToBf16(c[i])), n, CudaSmokeDevice.Bf16ToFloat);
        Assert.InRange(rounded, 1e-5, 5e-3);

        // A transposed result (a classic row/column-major mix-up) is caught.
        var transposed = CudaSmokeDevice.SampledRelativeError(a, b, i => c[(i % n) * n + i / n], n, CudaSmokeDevice.Bf16ToFloat);
        Assert.True(transposed > 0.5, $"transposed product gave only {transposed}");
    }
}
