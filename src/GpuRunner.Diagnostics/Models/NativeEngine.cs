using GpuRunner.Diagnostics.Checks;
using GpuRunner.Native;
using GpuRunner.Native.Cuda;

namespace GpuRunner.Diagnostics.Models;

/// <summary>
/// The MLP on the GPU through our own CUDA driver layer and PTX (no cuBLAS, no framework): wherever the driver
/// works, "the model runs on the device" is proven even without TorchSharp CUDA or the ORT CUDA EP.
/// Supports linear / relu / softmax layers (the shipped mlp).
/// </summary>
public sealed class NativeEngine : IInferenceEngine
{
    private const uint Block = 256;
    private readonly ModelManifest _model;
    private readonly CudaContext _context;
    private readonly CudaModule _module;
    private readonly CudaFunction _linear, _softmax;
    private readonly List<(DeviceMemory Wt, DeviceMemory Bias, int In, int Out, bool Relu)> _layers = [];
    private readonly bool _softmaxLast;
    private readonly int _inFeatures, _outFeatures;
    private DeviceMemory? _a, _b;
    private int _capacityBatch;

    public string Engine => "native";
    public string Device => "cuda";
    public string Detail { get; }
    public long? DeviceMemoryBytes => _layers.Sum(l => (long)(l.Wt.Bytes + l.Bias.Bytes)) + (long)((_a?.Bytes ?? 0) + (_b?.Bytes ?? 0));

    private NativeEngine(ModelManifest model, CudaContext context)
    {
        _model = model;
        _context = context;
        var weights = model.LoadWeights();
        var layers = model.Layers;
        for (var i = 0; i < layers.Count; i++)
        {
            var l = layers[i];
            switch (l.Op)
            {
                case "linear":
                {
                    var (w, shape) = weights[l.Weight!];
                    int outF = shape[0], inF = shape[1];
                    // Transposed to [in, out] once, so the kernel's loads coalesce.
                    var wt = new float[w.Length];
                    for (var o = 0; o < outF; o++)
                        for (var k = 0; k < inF; k++) wt[k * outF + o] = w[o * inF + k];
                    var bias = l.Bias is null ? new float[outF] : weights[l.Bias].Data;
                    var relu = i + 1 < layers.Count && layers[i + 1].Op == "relu";
                    var dw = DeviceMemory.Allocate((ulong)wt.Length * 4);
                    dw.CopyFrom<float>(wt);
                    var db = DeviceMemory.Allocate((ulong)bias.Length * 4);
                    db.CopyFrom<float>(bias);
                    _layers.Add((dw, db, inF, outF, relu));
                    break;
                }
                case "relu" when i > 0 && layers[i - 1].Op == "linear":
                    break; // fused into the linear kernel
                case "softmax" when i == layers.Count - 1 && l.Axis == 1:
                    _softmaxLast = true;
                    break;
                default:
                    throw new EngineUnavailableException($"the native engine runs linear/relu/softmax models only; {model.Name} has '{l.Op}'",
                        new Diagnosis("native-engine-unsupported-layer", $"layer '{l.Op}' is not implemented by the native engine",
                            "use --engine ort or --engine torch for this model, or the shipped mlp for the native engine"));
            }
        }
        if (_layers.Count == 0) throw new ModelException($"{model.Name}: no linear layers");
        _inFeatures = _layers[0].In;
        _outFeatures = _layers[^1].Out;
        _module = CudaModule.LoadPtx(NativeKernels.Ptx);
        _linear = _module.GetFunction(NativeKernels.LinearName);
        _softmax = _module.GetFunction(NativeKernels.SoftmaxName);
        var dev = CudaDevice.Get(context.Device);
        Detail = $"GpuRunner PTX kernels via the CUDA driver (FP32 FMA), {dev.Name}";
    }

    public static NativeEngine Create(ModelManifest model, int device = 0)
    {
        try
        {
            CudaDriver.Init();
            var context = CudaContext.RetainPrimary(device);
            try { return new NativeEngine(model, context); }
            catch { context.Dispose(); throw; }
        }
        catch (DriverLibraryNotFoundException e)
        {
            throw new EngineUnavailableException($"native engine: {e.Message}", Diagnoses.NoDriver("libcuda.so.1"), e);
        }
        catch (CudaException e)
        {
            throw new EngineUnavailableException($"native engine: {e.Message}", Diagnoses.Cuda(e), e);
        }
    }

    public float[] Run(float[] input, int batch)
    {
        var output = new float[batch * _outFeatures];
        Forward(input, batch, output);
        return output;
    }

    public IBoundBatch Bind(float[] input, int batch)
    {
        _context.MakeCurrent();
        EnsureCapacity(batch);
        return new Bound(this, input[..(batch * _inFeatures)], batch);
    }

    private void Forward(ReadOnlySpan<float> input, int batch, Span<float> output)
    {
        _context.MakeCurrent();
        EnsureCapacity(batch);
        _a!.CopyFrom(input[..(batch * _inFeatures)]);
        var (src, dst) = (_a, _b!);
        foreach (var (wt, bias, inF, outF, relu) in _layers)
        {
            var n = (uint)(batch * outF);
            using var args = new KernelArguments().Add(src).Add(wt).Add(bias).Add(dst).Add(batch).Add(inF).Add(outF).Add(relu ? 1 : 0);
            _linear.Launch((n + Block - 1) / Block, Block, args);
            (src, dst) = (dst, src);
        }
        if (_softmaxLast)
        {
            using var args = new KernelArguments().Add(src).Add(batch).Add(_outFeatures);
            _softmax.Launch(((uint)batch + Block - 1) / Block, Block, args);
        }
        src.CopyTo(output); // synchronous copy: waits for the kernels
    }

    /// <summary>The input kept on the host and copied to the device in every run; the output read back into one array.</summary>
    private sealed class Bound(NativeEngine engine, float[] input, int batch) : IBoundBatch
    {
        public float[] Output { get; } = new float[batch * engine._outFeatures];
        public void Run() => engine.Forward(input, batch, Output);
        public void Dispose() { }
    }

    private void EnsureCapacity(int batch)
    {
        if (batch <= _capacityBatch) return;
        _a?.Dispose();
        _b?.Dispose();
        var widest = Math.Max(_inFeatures, _layers.Max(l => l.Out));
        _a = DeviceMemory.Allocate((ulong)batch * (ulong)widest * 4);
        _b = DeviceMemory.Allocate((ulong)batch * (ulong)widest * 4);
        _capacityBatch = batch;
    }

    public void Dispose()
    {
        _context.MakeCurrent();
        foreach (var l in _layers) { l.Wt.Dispose(); l.Bias.Dispose(); }
        _a?.Dispose();
        _b?.Dispose();
        _module.Dispose();
        _context.Dispose();
    }
}
