namespace GpuRunner.Diagnostics.Models;

/// <summary>A model loaded onto one device by one engine (ort, torch, native), ready to run batches.</summary>
public interface IInferenceEngine : IDisposable
{
    /// <summary>ort | torch | native.</summary>
    string Engine { get; }
    /// <summary>cpu | cuda.</summary>
    string Device { get; }
    /// <summary>One line: library version and where it runs (e.g. "ONNX Runtime 1.31.1, CUDAExecutionProvider").</summary>
    string Detail { get; }
    /// <summary>
    /// Runs one batch: <paramref name="input"/> holds batch × (input shape without batch) floats on the host; returns
    /// the output on the host. Host↔device copies are included, as in Python's session.run / model(x).cpu().
    /// </summary>
    float[] Run(float[] input, int batch);
    /// <summary>Device memory this engine holds, in bytes; null when the engine cannot say.</summary>
    long? DeviceMemoryBytes { get; }
}

/// <summary>The engine could not load or place the model on the device; carries the named cause and fix.</summary>
public sealed class EngineUnavailableException(string message, Checks.Diagnosis diagnosis, Exception? inner = null)
    : Exception(message, inner)
{
    public Checks.Diagnosis Diagnosis { get; } = diagnosis;
}
