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
    /// <summary>Users to seed: (name, token, admin). A declaration: each start makes the stored seeded users match it
    /// (a new token replaces the old one, admin follows --admin, a user left out loses the seeded token and admin).</summary>
    public List<(string Name, string Token, bool Admin)> Users { get; } = [];

    // ---- limits (docs/security.md lists them with their defaults)

    /// <summary>Connections served at once; null: derived from the process's open-file limit
    /// (<see cref="Services.ConnectionLimits"/>), so a flood of idle sockets can never use up the descriptors the
    /// database needs. Connections over the limit are closed at once.</summary>
    public int? MaxConnections { get; set; }
    /// <summary>An idle keep-alive connection (or one that sends nothing) is closed after this.</summary>
    public TimeSpan KeepAliveTimeout { get; set; } = TimeSpan.FromSeconds(60);
    /// <summary>Time allowed to send the request line and headers.</summary>
    public TimeSpan RequestHeadersTimeout { get; set; } = TimeSpan.FromSeconds(10);
    /// <summary>Browser sessions per user and in all; the oldest is evicted beyond either.</summary>
    public int MaxSessionsPerUser { get; set; } = 10;
    public int MaxSessions { get; set; } = 10_000;
    /// <summary>Failed authentications allowed per client address and per token prefix within
    /// <see cref="AuthFailureWindow"/>; beyond that, 429 with Retry-After.</summary>
    public int MaxAuthFailures { get; set; } = 10;
    public TimeSpan AuthFailureWindow { get; set; } = TimeSpan.FromMinutes(5);
    /// <summary>Heartbeat rows older than this are deleted (billing never reads them; the ledger and state events
    /// stay forever). Must exceed the 24 h late window, so a retried heartbeat is still recognised as a duplicate.</summary>
    public TimeSpan HeartbeatRetention { get; set; } = TimeSpan.FromDays(14);
}
