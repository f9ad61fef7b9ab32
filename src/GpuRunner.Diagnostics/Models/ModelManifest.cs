using System.Text.Json;
using System.Text.Json.Serialization;

namespace GpuRunner.Diagnostics.Models;

/// <summary>models/NAME.json (schema gpurunner.model/1): see models/README.md.</summary>
public sealed record ModelManifest
{
    public string Schema { get; init; } = "";
    public string Name { get; init; } = "";
    public string Description { get; init; } = "";
    public string Onnx { get; init; } = "";
    public TensorSpec Input { get; init; } = new();
    public TensorSpec Output { get; init; } = new();
    public List<LayerSpec> Layers { get; init; } = [];
    public WeightsSpec Weights { get; init; } = new();
    public string TestInput { get; init; } = "";
    public string ExpectedOutput { get; init; } = "";
    public Tolerance Tolerance { get; init; } = new();

    /// <summary>Folder the manifest was read from; file names above are relative to it.</summary>
    [JsonIgnore] public string Directory { get; init; } = "";

    public string PathOf(string file) => System.IO.Path.Combine(Directory, file);

    /// <summary>
    /// Accepts NAME.json, NAME.onnx (its manifest beside it) or a folder + name. Throws <see cref="ModelException"/>
    /// with a one-line message for anything unreadable.
    /// </summary>
    public static ModelManifest Load(string path)
    {
        var full = System.IO.Path.GetFullPath(path);
        var json = full.EndsWith(".json", StringComparison.OrdinalIgnoreCase) ? full : System.IO.Path.ChangeExtension(full, ".json");
        if (!File.Exists(full) && !File.Exists(json))
            throw new ModelException($"model not found: {path}");
        if (!File.Exists(json))
            throw new ModelException($"{path}: no manifest {System.IO.Path.GetFileName(json)} beside it (see models/README.md)");
        ModelManifest? m;
        try
        {
            m = JsonSerializer.Deserialize(File.ReadAllText(json), ModelJsonContext.Default.ModelManifest);
        }
        catch (JsonException e)
        {
            throw new ModelException($"{json}: not a valid model manifest: {e.Message}");
        }
        if (m is null || m.Schema != "gpurunner.model/1")
            throw new ModelException($"{json}: not a gpurunner.model/1 manifest");
        if (m.Input.Shape.Count == 0 || m.Output.Shape.Count == 0)
            throw new ModelException($"{json}: input/output shapes missing");
        return m with { Directory = System.IO.Path.GetDirectoryName(json)! };
    }

    /// <summary>Elements of one sample (the shape without its batch dimension).</summary>
    public static int PerSample(TensorSpec t) => t.Shape.Skip(1).Aggregate(1, (a, b) => a * b);

    /// <summary>[batch, per-sample dims...], as ORT's and TorchSharp's tensor constructors take it.</summary>
    public static long[] BatchShape(TensorSpec t, int batch) => [batch, .. t.Shape.Skip(1).Select(d => (long)d)];

    /// <summary>The input floats one batch takes; an ArgumentException when <paramref name="input"/> holds fewer.</summary>
    public int BatchInputCount(float[] input, int batch)
    {
        var count = batch * PerSample(Input);
        if (input.Length < count) throw new ArgumentException($"{Name}: batch {batch} needs {count} input floats, got {input.Length}", nameof(input));
        return count;
    }

    /// <summary>The named weight tensors from the .bin file.</summary>
    public Dictionary<string, (float[] Data, int[] Shape)> LoadWeights()
    {
        var bytes = ReadAll(Weights.File);
        var result = new Dictionary<string, (float[], int[])>();
        foreach (var t in Weights.Tensors)
        {
            var count = t.Shape.Aggregate(1, (a, b) => a * b);
            if (t.Offset < 0 || t.Offset + count * 4L > bytes.Length)
                throw new ModelException($"{Weights.File}: tensor {t.Name} lies outside the file");
            var data = new float[count];
            Buffer.BlockCopy(bytes, (int)t.Offset, data, 0, count * 4);
            if (!BitConverter.IsLittleEndian) throw new ModelException("big-endian hosts are not supported");
            result[t.Name] = (data, [.. t.Shape]);
        }
        return result;
    }

    private byte[] ReadAll(string file)
    {
        try { return File.ReadAllBytes(PathOf(file)); }
        catch (IOException e) { throw new ModelException($"{PathOf(file)}: {e.Message}"); }
        catch (UnauthorizedAccessException e) { throw new ModelException($"{PathOf(file)}: {e.Message}"); }
    }
}

public sealed record TensorSpec
{
    public string Name { get; init; } = "";
    /// <summary>-1 marks the dynamic batch dimension.</summary>
    public List<int> Shape { get; init; } = [];
}

public sealed record LayerSpec
{
    public string Op { get; init; } = "";
    public string? Weight { get; init; }
    public string? Bias { get; init; }
    public int Padding { get; init; }
    public int Kernel { get; init; }
    public int Axis { get; init; } = 1;
}

public sealed record WeightsSpec
{
    public string File { get; init; } = "";
    public string Dtype { get; init; } = "float32";
    public List<WeightTensor> Tensors { get; init; } = [];
}

public sealed record WeightTensor
{
    public string Name { get; init; } = "";
    public List<int> Shape { get; init; } = [];
    public long Offset { get; init; }
}

/// <summary>numpy allclose semantics: |out - ref| &lt;= Abs + Rel * |ref| for every element.</summary>
public sealed record Tolerance
{
    public double Abs { get; init; } = 1e-4;
    public double Rel { get; init; } = 1e-3;
}

/// <summary>A model file problem the user can fix (bad path, bad manifest); one line.</summary>
public sealed class ModelException(string message, Exception? inner = null) : Exception(message, inner);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, ReadCommentHandling = JsonCommentHandling.Skip)]
[JsonSerializable(typeof(ModelManifest))]
internal sealed partial class ModelJsonContext : JsonSerializerContext;
