namespace GpuRunner.Diagnostics.Models;

/// <summary>
/// A plain C# forward pass over a manifest's layers and .bin weights (float64 accumulation). It is the reference
/// the other engines are compared against when no expected output exists for a batch, and it proves that the
/// weights file + manifest (what TorchSharp and the native engine read) describe the same network as the .onnx.
/// </summary>
public static class ManagedReference
{
    public static float[] Run(ModelManifest model, float[] input, int batch)
    {
        var weights = model.LoadWeights();
        var shape = new List<int> { batch };
        shape.AddRange(model.Input.Shape.Skip(1));
        var x = input;
        foreach (var layer in model.Layers)
        {
            switch (layer.Op)
            {
                case "linear":
                {
                    var (w, ws) = weights[layer.Weight!];
                    var b = layer.Bias is null ? null : weights[layer.Bias].Data;
                    int outF = ws[0], inF = ws[1];
                    var y = new float[batch * outF];
                    for (var n = 0; n < batch; n++)
                        for (var o = 0; o < outF; o++)
                        {
                            double acc = b?[o] ?? 0;
                            for (var k = 0; k < inF; k++) acc += (double)x[n * inF + k] * w[o * inF + k];
                            y[n * outF + o] = (float)acc;
                        }
                    x = y;
                    shape = [batch, outF];
                    break;
                }
                case "relu":
                    x = [.. x.Select(v => Math.Max(v, 0f))];
                    break;
                case "softmax":
                {
                    var cols = shape[^1];
                    var y = new float[x.Length];
                    for (var r = 0; r < x.Length / cols; r++)
                    {
                        double max = double.NegativeInfinity, sum = 0;
                        for (var c = 0; c < cols; c++) max = Math.Max(max, x[r * cols + c]);
                        for (var c = 0; c < cols; c++) sum += Math.Exp(x[r * cols + c] - max);
                        for (var c = 0; c < cols; c++) y[r * cols + c] = (float)(Math.Exp(x[r * cols + c] - max) / sum);
                    }
                    x = y;
                    break;
                }
                case "conv2d":
                {
                    var (w, ws) = weights[layer.Weight!];
                    var b = layer.Bias is null ? null : weights[layer.Bias].Data;
                    int cin = shape[1], h = shape[2], wd = shape[3], cout = ws[0], k = ws[2], p = layer.Padding;
                    int oh = h + 2 * p - k + 1, ow = wd + 2 * p - k + 1;
                    var y = new float[batch * cout * oh * ow];
                    for (var n = 0; n < batch; n++)
                        for (var o = 0; o < cout; o++)
                            for (var i = 0; i < oh; i++)
                                for (var j = 0; j < ow; j++)
                                {
                                    double acc = b?[o] ?? 0;
                                    for (var c = 0; c < cin; c++)
                                        for (var di = 0; di < k; di++)
                                            for (var dj = 0; dj < k; dj++)
                                            {
                                                int si = i + di - p, sj = j + dj - p;
                                                if (si < 0 || sj < 0 || si >= h || sj >= wd) continue;
                                                acc += (double)x[((n * cin + c) * h + si) * wd + sj] * w[((o * cin + c) * k + di) * k + dj];
                                            }
                                    y[((n * cout + o) * oh + i) * ow + j] = (float)acc;
                                }
                    x = y;
                    shape = [batch, cout, oh, ow];
                    break;
                }
                case "maxpool2d":
                {
                    int c = shape[1], h = shape[2], wd = shape[3], k = layer.Kernel;
                    int oh = h / k, ow = wd / k;
                    var y = new float[batch * c * oh * ow];
                    for (var n = 0; n < batch * c; n++)
                        for (var i = 0; i < oh; i++)
                            for (var j = 0; j < ow; j++)
                            {
                                var m = float.NegativeInfinity;
                                for (var di = 0; di < k; di++)
                                    for (var dj = 0; dj < k; dj++)
                                        m = Math.Max(m, x[(n * h + i * k + di) * wd + j * k + dj]);
                                y[(n * oh + i) * ow + j] = m;
                            }
                    x = y;
                    shape = [batch, c, oh, ow];
                    break;
                }
                case "flatten":
                    shape = [batch, x.Length / batch];
                    break;
                default:
                    throw new ModelException($"{model.Name}: layer op '{layer.Op}' is not supported");
            }
        }
        return x;
    }

    /// <summary>The shipped input repeated to <paramref name="batch"/> rows, and its expected output repeated the same way.</summary>
    public static (float[] Input, float[] Expected) TiledTestData(ModelManifest model, int batch)
    {
        var (input, inShape) = Npy.ReadFloat32(model.PathOf(model.TestInput));
        var (expected, _) = Npy.ReadFloat32(model.PathOf(model.ExpectedOutput));
        int rows = inShape[0], inPer = input.Length / rows, outPer = expected.Length / rows;
        var x = new float[batch * inPer];
        var e = new float[batch * outPer];
        for (var r = 0; r < batch; r++)
        {
            Array.Copy(input, r % rows * inPer, x, r * inPer, inPer);
            Array.Copy(expected, r % rows * outPer, e, r * outPer, outPer);
        }
        return (x, e);
    }
}
