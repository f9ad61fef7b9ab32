using GpuRunner.Diagnostics.Checks;
using GpuRunner.Diagnostics.Frameworks;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuRunner.Diagnostics.Models;

/// <summary>
/// The model's layers as TorchSharp functional ops, weights from NAME.weights.bin moved onto the device once
/// (the document's model.to("cuda")). libtorch comes from <see cref="TorchSharpLoader"/>.
/// </summary>
public sealed class TorchSharpEngine : IInferenceEngine
{
    private readonly ModelManifest _model;
    private readonly Dictionary<string, Tensor> _weights;
    private readonly Device _device;

    public string Engine => "torch";
    public string Device { get; }
    public string Detail { get; }
    public long? DeviceMemoryBytes { get; }

    private TorchSharpEngine(ModelManifest model, string device, Dictionary<string, Tensor> weights, Device torchDevice, string detail)
    {
        _model = model;
        Device = device;
        _weights = weights;
        _device = torchDevice;
        Detail = detail;
        DeviceMemoryBytes = device == "cuda" ? weights.Values.Sum(t => t.NumberOfElements * 4) : null;
    }

    public static TorchSharpEngine Create(ModelManifest model, string device, LibTorchOptions options)
    {
        var load = TorchSharpLoader.EnsureLoadedAsync(options).GetAwaiter().GetResult();
        if (!load.Loaded) throw new EngineUnavailableException($"TorchSharp cannot load libtorch ({load.Diagnosis!.Name})", load.Diagnosis);
        return Build(model, device, load);
    }

    // Separate method: TorchSharp's types are touched only once libtorch is loaded.
    private static TorchSharpEngine Build(ModelManifest model, string device, LibTorchLoad load)
    {
        if (device == "cuda")
        {
            try { InitializeDeviceType(DeviceType.CUDA); } catch (Exception) { /* reported below */ }
            if (!cuda.is_available())
                throw new EngineUnavailableException("TorchSharp: torch.cuda.is_available() = false", load.HasCuda
                    ? new Diagnosis("libtorch-cuda-init", $"the CUDA libtorch at {load.LibTorchDir} loaded but CUDA initialisation failed",
                        "run gpurunner verify --only python to see PyTorch's own error text")
                    : TorchSharpLoader.CpuOnly);
            // models/README.md: the tolerance assumes true FP32 GEMMs/convolutions.
            backends.cuda.matmul.allow_tf32 = false;
            backends.cudnn.allow_tf32 = false;
        }
        var torchDevice = device == "cuda" ? new Device(DeviceType.CUDA, 0) : CPU;
        var weights = new Dictionary<string, Tensor>();
        foreach (var (name, (data, shape)) in model.LoadWeights())
        {
            using var host = tensor(data, [.. shape.Select(d => (long)d)]);
            weights[name] = host.to(torchDevice).DetachFromDisposeScope();
        }
        return new TorchSharpEngine(model, device, weights, torchDevice,
            $"TorchSharp {TorchSharpProbe.TorchSharpVersion}, libtorch {load.LibTorchDir}, {(device == "cuda" ? "cuda:0" : "cpu")}");
    }

    public float[] Run(float[] input, int batch)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        long[] shape = [batch, .. _model.Input.Shape.Skip(1).Select(d => (long)d)];
        var x = tensor(input, shape).to(_device);
        foreach (var layer in _model.Layers)
        {
            x = layer.Op switch
            {
                "linear" => nn.functional.linear(x, _weights[layer.Weight!], layer.Bias is null ? null : _weights[layer.Bias]),
                "relu" => nn.functional.relu(x),
                "softmax" => nn.functional.softmax(x, layer.Axis),
                "conv2d" => nn.functional.conv2d(x, _weights[layer.Weight!], layer.Bias is null ? null : _weights[layer.Bias],
                    padding: [layer.Padding, layer.Padding]),
                "maxpool2d" => nn.functional.max_pool2d(x, [layer.Kernel, layer.Kernel], [layer.Kernel, layer.Kernel]),
                "flatten" => x.flatten(1),
                _ => throw new ModelException($"{_model.Name}: layer op '{layer.Op}' is not supported by the torch engine"),
            };
        }
        return x.cpu().data<float>().ToArray();
    }

    public void Dispose()
    {
        foreach (var t in _weights.Values) t.Dispose();
        _weights.Clear();
    }
}
