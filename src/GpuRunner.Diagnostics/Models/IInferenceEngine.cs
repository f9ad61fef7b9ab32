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
    /// Runs one batch once: <paramref name="input"/> holds batch × (input shape without batch) floats on the host;
    /// returns the output on the host. For repeated runs use <see cref="Bind"/>.
    /// </summary>
    float[] Run(float[] input, int batch);
    /// <summary>
    /// Prepares <paramref name="input"/> for repeated runs, as a benchmark loop in Python keeps one numpy array / tensor:
    /// host buffers, shapes and engine objects are made here once, so that each <see cref="IBoundBatch.Run"/> does only
    /// the per-iteration work — host input to the device, the forward pass, the output back into host memory (the
    /// host↔device copies are included, as in Python's session.run / model(x.to(dev)).cpu()).
    /// </summary>
    IBoundBatch Bind(float[] input, int batch);
    /// <summary>Device memory this engine holds, in bytes; null when the engine cannot say.</summary>
    long? DeviceMemoryBytes { get; }
}

/// <summary>One batch bound to an engine (<see cref="IInferenceEngine.Bind"/>).</summary>
public interface IBoundBatch : IDisposable
{
    /// <summary>Host buffer that each <see cref="Run"/> overwrites with the output (batch × output shape without batch).</summary>
    float[] Output { get; }
    /// <summary>Runs the bound batch; returns when <see cref="Output"/> holds the result. Reuses the bound host buffers.</summary>
    void Run();
}

/// <summary>The engine could not load or place the model on the device; carries the named cause and fix.</summary>
public sealed class EngineUnavailableException(string message, Checks.Diagnosis diagnosis, Exception? inner = null)
    : Exception(message, inner)
{
    public Checks.Diagnosis Diagnosis { get; } = diagnosis;
}
