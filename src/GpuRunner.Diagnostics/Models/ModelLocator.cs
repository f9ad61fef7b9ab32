namespace GpuRunner.Diagnostics.Models;

/// <summary>Finds the shipped models/ folder: $GPURUNNER_MODELS, beside the executable, or up from the working directory.</summary>
public static class ModelLocator
{
    public static string? FindModelsDirectory()
    {
        if (Environment.GetEnvironmentVariable("GPURUNNER_MODELS") is { Length: > 0 } env && Directory.Exists(env)) return env;
        var beside = Path.Combine(AppContext.BaseDirectory, "models");
        if (File.Exists(Path.Combine(beside, "mlp.json"))) return beside;
        for (var dir = new DirectoryInfo(Environment.CurrentDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "models");
            if (File.Exists(Path.Combine(candidate, "mlp.json"))) return candidate;
        }
        return null;
    }

    /// <summary>A shipped model by name (mlp, cnn); throws <see cref="ModelException"/> when models/ is not found.</summary>
    public static ModelManifest Shipped(string name)
    {
        var dir = FindModelsDirectory()
                  ?? throw new ModelException("the shipped models/ folder was not found (beside gpurunner, up from the working directory, or $GPURUNNER_MODELS)");
        return ModelManifest.Load(Path.Combine(dir, name + ".json"));
    }
}
