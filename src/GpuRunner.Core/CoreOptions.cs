using GpuRunner.Lifecycle;

namespace GpuRunner.Core;

/// <summary>Settings of one core instance (see `gpurunner core serve --help`).</summary>
public sealed class CoreOptions
{
    /// <summary>Base URL the Hub client calls, used in repos/create's `url`; null: the request's scheme and host.</summary>
    public string? PublicUrl { get; set; }
    public LifecyclePolicy Policy { get; set; } = LifecyclePolicy.Default;
    public HardwareCatalogue Catalogue { get; set; } = HardwareCatalogue.Default;
    /// <summary>Larger bodies get 413. A device report is a few KB; 256 KB leaves room for stderr tails.</summary>
    public long MaxBodyBytes { get; set; } = 256 * 1024;
    public TimeSpan TickInterval { get; set; } = TimeSpan.FromSeconds(5);
    public bool RunTimeRules { get; set; } = true;
    public TimeProvider Clock { get; set; } = TimeProvider.System;
    public List<string> Urls { get; } = [];
    /// <summary>Users to seed: (name, token, admin).</summary>
    public List<(string Name, string Token, bool Admin)> Users { get; } = [];
}
