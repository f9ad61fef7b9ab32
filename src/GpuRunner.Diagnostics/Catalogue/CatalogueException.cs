namespace GpuRunner.Diagnostics.Catalogue;

/// <summary>A catalogue (or CUDA table) that cannot be used: the message is one line naming the file and the problem.</summary>
public sealed class CatalogueException(string message, Exception? inner = null) : Exception(message, inner);
