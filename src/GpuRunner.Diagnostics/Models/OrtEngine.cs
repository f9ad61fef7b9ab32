using GpuRunner.Diagnostics.Frameworks;
using Microsoft.ML.OnnxRuntime;

namespace GpuRunner.Diagnostics.Models;

/// <summary>ONNX Runtime from C#: CPU EP, or the CUDA EP with the CPU fallback switched off.</summary>
public sealed class OrtEngine : IInferenceEngine
{
    private readonly InferenceSession _session;
    private readonly ModelManifest _model;
    private readonly RunOptions _runOptions = new();

    public string Engine => "ort";
    public string Device { get; }
    public string Detail { get; }
    public long? DeviceMemoryBytes => null;

    private OrtEngine(ModelManifest model, InferenceSession session, string device)
    {
        _model = model;
        _session = session;
        Device = device;
        Detail = $"ONNX Runtime {OrtEnv.Instance().GetVersionString()}, {(device == "cuda" ? "CUDAExecutionProvider" : "CPUExecutionProvider")}";
    }

    public static OrtEngine Create(ModelManifest model, string device, int deviceId = 0)
    {
        // Python onnxruntime's defaults, spelled out so that bench/frameworks/ort_bench.py (which sets the same) and
        // this side run one configuration: intra-op threads 0 = ORT's choice, one per physical core, pinned.
        var options = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            IntraOpNumThreads = 0,
            InterOpNumThreads = 0,
            EnableCpuMemArena = true,
            EnableMemoryPattern = true,
        };
        try
        {
            if (device == "cuda")
            {
                OnnxRuntimeDiagnosis.AppendCuda(options, deviceId);
                // Without this, nodes the CUDA EP cannot take run on CPU without a word (failure mode 7's cousin):
                // session creation must fail instead, so "ran on the GPU" is a fact.
                options.AddSessionConfigEntry("session.disable_cpu_ep_fallback", "1");
            }
            var session = new InferenceSession(model.PathOf(model.Onnx), options);
            return new OrtEngine(model, session, device);
        }
        catch (Exception e) when (e is OnnxRuntimeException or EntryPointNotFoundException or DllNotFoundException or TypeInitializationException)
        {
            var d = OnnxRuntimeDiagnosis.Explain(e);
            throw new EngineUnavailableException($"ONNX Runtime cannot run {model.Name} on {device}: {OnnxRuntimeDiagnosis.OneLine(e)}", d, e);
        }
        finally
        {
            options.Dispose();
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
        _runOptions.Dispose();
        _session.Dispose();
    }

    /// <summary>
    /// Input and output OrtValues over host arrays, bound once through an IOBinding: a run is one native call with no
    /// managed allocation, ORT reads the input and writes the output in place (on CPU nothing is copied at all).
    /// </summary>
    private sealed class Bound : IBoundBatch
    {
        private readonly OrtEngine _engine;
        private readonly OrtIoBinding _binding;
        private readonly OrtValue _input, _output;
        private readonly bool _rebindInput;

        public float[] Output { get; }

        public Bound(OrtEngine engine, float[] input, int batch)
        {
            _engine = engine;
            var m = engine._model;
            var inCount = m.BatchInputCount(input, batch);
            // Arrays on the pinned object heap: the GC never moves them, so ORT may keep their addresses for the binding's life.
            var x = GC.AllocateUninitializedArray<float>(inCount, pinned: true);
            input.AsSpan(0, inCount).CopyTo(x);
            Output = GC.AllocateUninitializedArray<float>(batch * ModelManifest.PerSample(m.Output), pinned: true);
            _input = OrtValue.CreateTensorValueFromMemory(x, ModelManifest.BatchShape(m.Input, batch));
            _output = OrtValue.CreateTensorValueFromMemory(Output, ModelManifest.BatchShape(m.Output, batch));
            _binding = engine._session.CreateIoBinding();
            _binding.BindInput(m.Input.Name, _input);
            _binding.BindOutput(m.Output.Name, _output);
            // ORT copies a host input to the device when it is bound: on CUDA, binding it again in every run keeps that
            // H2D copy inside the run, as Python's session.run(numpy) does. The output comes back into Output either way.
            _rebindInput = engine.Device == "cuda";
        }


        public void Run()
        {
            if (_rebindInput) _binding.BindInput(_engine._model.Input.Name, _input);
            _engine._session.RunWithBinding(_engine._runOptions, _binding);
        }

        public void Dispose()
        {
            _binding.Dispose();
            _input.Dispose();
            _output.Dispose();
        }
    }
}
