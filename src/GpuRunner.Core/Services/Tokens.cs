using System.Security.Cryptography;
using System.Text;

namespace GpuRunner.Core.Services;

/// <summary>
/// Tokens are 256-bit random strings; only their SHA-256 is stored. A fast hash is enough here (unlike passwords):
/// a 256-bit random token cannot be guessed or brute-forced from its hash, and a plain hash lets the core find the
/// token with one indexed lookup per request. Seeded user tokens (--user NAME=TOKEN) are the operator's choice and
/// should be long and random too.
/// </summary>
public static class Tokens
{
    public static string New(string prefix) =>
        prefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public static string Hash(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    public const string RunnerPrefix = "grr_";
    /// <summary>Named user tokens made with `gpurunner spaces tokens create` (or the API, or the Tokens page).</summary>
    public const string UserPrefix = "gru_";
    /// <summary>The name of a user's seeded token (--user/--admin NAME=TOKEN).</summary>
    public const string SeedName = "seed";
    /// <summary>Longer tokens are refused without a lookup.</summary>
    public const int MaxLength = 512;
    public const int MaxPerUser = 50;

    /// <summary>A token's public id: the first 12 hex digits of its hash. Safe to show (the hash reveals nothing of
    /// the token) and stable, so owners can list and revoke tokens without ever seeing them again.</summary>
    public static string Id(string hash) => hash[..12];

    /// <summary>What is kept of the secret to tell tokens apart: "grr_" (or "gru_") and its first 4 random characters
    /// (24 of 256 bits; the rest stays unguessable).</summary>
    public static string Prefix(string token) => token[..Math.Min(token.Length, RunnerPrefix.Length + 4)];
}
