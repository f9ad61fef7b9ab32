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
    private readonly Func<Tensor, Tensor>[] _layers;
    private readonly Device _device;

    public string Engine => "torch";
    public string Device { get; }
    public string Detail { get; }
    public long? DeviceMemoryBytes { get; }

    private TorchSharpEngine(ModelManifest model, string device, Dictionary<string, Tensor> weights, Func<Tensor, Tensor>[] layers,
        Device torchDevice, string detail)
    {
        _model = model;
        Device = device;
        _weights = weights;
        _layers = layers;
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
            // cudnn.benchmark has no setter in TorchSharp 0.107: libtorch's default (false) applies, which
            // bench/frameworks/torch_bench.py sets explicitly, so both sides use cuDNN's heuristic algorithm choice.
        }
        var torchDevice = device == "cuda" ? new Device(DeviceType.CUDA, 0) : CPU;
        var weights = new Dictionary<string, Tensor>();
        try
        {
            foreach (var (name, (data, shape)) in model.LoadWeights())
            {
                using var host = tensor(data, [.. shape.Select(d => (long)d)]);
                weights[name] = host.to(torchDevice).DetachFromDisposeScope();
            }
            var layers = model.Layers.Select(l => Compile(model, l, weights)).ToArray();
            return new TorchSharpEngine(model, device, weights, layers, torchDevice,
                $"TorchSharp {TorchSharpProbe.TorchSharpVersion}, libtorch {load.LibTorchDir}, {(device == "cuda" ? "cuda:0" : "cpu")}");
        }
        catch
        {
            foreach (var t in weights.Values) t.Dispose();
            throw;
        }
    }

    /// <summary>
    /// One layer as the functional op torch_bench.py calls, with its weights and size arrays looked up once here
    /// rather than in every run.
    /// </summary>
    private static Func<Tensor, Tensor> Compile(ModelManifest model, LayerSpec layer, Dictionary<string, Tensor> w)
    {
        Tensor? Bias() => layer.Bias is null ? null : w[layer.Bias];
        switch (layer.Op)
        {
            case "linear":
            {
                var (weight, bias) = (w[layer.Weight!], Bias());
                return x => nn.functional.linear(x, weight, bias);
            }
            case "relu":
                return x => nn.functional.relu(x);
            case "softmax":
            {
                long axis = layer.Axis;
                return x => nn.functional.softmax(x, axis);
            }
            case "conv2d":
            {
                var (weight, bias) = (w[layer.Weight!], Bias());
                long[] padding = [layer.Padding, layer.Padding];
                return x => nn.functional.conv2d(x, weight, bias, padding: padding);
            }
            case "maxpool2d":
            {
                long[] kernel = [layer.Kernel, layer.Kernel];
                return x => nn.functional.max_pool2d(x, kernel, kernel);
            }
            case "flatten":
                return x => x.flatten(1);
            default:
                throw new ModelException($"{model.Name}: layer op '{layer.Op}' is not supported by the torch engine");
        }
    }

    public float[] Run(float[] input, int batch)
    {
        using var bound = new Bound(this, input, batch);
        bound.Run();
        return bound.Output;
    }

    public IBoundBatch Bind(float[] input, int batch) => new Bound(this, input, batch);

    public void Dispose()
    {
        foreach (var t in _weights.Values) t.Dispose();
        _weights.Clear();
    }

    /// <summary>
    /// torch_bench.py's loop body, op for op: the host tensor x is made once (torch.from_numpy there); each run copies
    /// it to the device (x.to(dev) there; here into a device tensor made once, the same synchronous H2D copy without a
    /// caching-allocator round trip), runs the layers and copies the result back synchronously (.cpu() there; here
    /// into a CPU tensor over <see cref="Output"/>, so no array is allocated or copied again). A dispose scope frees
    /// every temporary at the end of the run, so nothing is left to the GC's finalizer.
    /// </summary>
    private sealed class Bound : IBoundBatch
    {
        private readonly TorchSharpEngine _engine;
        private readonly Tensor _hostInput, _hostOutput;
        private readonly Tensor? _deviceInput;

        public float[] Output { get; }

        public Bound(TorchSharpEngine engine, float[] input, int batch)
        {
            _engine = engine;
            var m = engine._model;
            var inCount = m.BatchInputCount(input, batch);
            Output = new float[batch * ModelManifest.PerSample(m.Output)];
            var inShape = ModelManifest.BatchShape(m.Input, batch);
            // torch.tensor copies the array once (pageable host memory, like numpy's); from_array shares Output's storage.
            _hostInput = tensor(input[..inCount], inShape).DetachFromDisposeScope();
            using (var flat = from_array(Output)) _hostOutput = flat.view(ModelManifest.BatchShape(m.Output, batch)).DetachFromDisposeScope();
            if (engine.Device == "cuda") _deviceInput = empty(inShape, ScalarType.Float32, engine._device).DetachFromDisposeScope();
        }


        public void Run()
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            // On the CPU, x.to("cpu") is x itself in PyTorch: nothing to copy.
            var x = _deviceInput is null ? _hostInput : _deviceInput.copy_(_hostInput);
            foreach (var layer in _engine._layers) x = layer(x);
            _hostOutput.copy_(x);
        }

        public void Dispose()
        {
            _deviceInput?.Dispose();
            _hostInput.Dispose();
            _hostOutput.Dispose();
        }
    }
}
