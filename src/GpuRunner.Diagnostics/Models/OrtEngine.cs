using GpuRunner.Diagnostics.Frameworks;
using Microsoft.ML.OnnxRuntime;

namespace GpuRunner.Diagnostics.Models;

/// <summary>ONNX Runtime from C#: CPU EP, or the CUDA EP with the CPU fallback switched off.</summary>
public sealed class OrtEngine : IInferenceEngine
{
    private readonly InferenceSession _session;
    private readonly ModelManifest _model;
    private readonly string[] _inputNames;
    private readonly string[] _outputNames;
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
        _inputNames = [model.Input.Name];
        _outputNames = [model.Output.Name];
        Detail = $"ONNX Runtime {OrtEnv.Instance().GetVersionString()}, {(device == "cuda" ? "CUDAExecutionProvider" : "CPUExecutionProvider")}";
    }

    public static OrtEngine Create(ModelManifest model, string device, int deviceId = 0)
    {
        var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
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
        long[] shape = [batch, .. _model.Input.Shape.Skip(1).Select(d => (long)d)];
        using var value = OrtValue.CreateTensorValueFromMemory(input, shape);
        using var outputs = _session.Run(_runOptions, _inputNames, [value], _outputNames);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }

    public void Dispose()
    {
        _runOptions.Dispose();
        _session.Dispose();
    }
}
