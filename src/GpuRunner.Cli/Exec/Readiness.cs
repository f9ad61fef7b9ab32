using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace GpuRunner.Cli.Exec;

/// <summary>When the app counts as RUNNING (the moment billing starts): a port opens, a URL answers, or a log line matches.</summary>
public interface IReadinessProbe
{
    /// <summary>For the log: "TCP port 7860 accepts connections".</summary>
    string Description { get; }
    /// <summary>Completes when the app is ready; cancelled when the app exits first.</summary>
    Task WaitAsync(CancellationToken ct);
}

/// <summary>Ready when something accepts a TCP connection on the loopback port (IPv4 or IPv6).</summary>
public sealed class TcpPortProbe(int port, TimeSpan? interval = null) : IReadinessProbe
{
    private static readonly IPAddress[] Loopbacks = [IPAddress.Loopback, IPAddress.IPv6Loopback];
    private readonly TimeSpan _interval = interval ?? TimeSpan.FromMilliseconds(250);
    public string Description => $"TCP port {port} accepts connections";

    public async Task WaitAsync(CancellationToken ct)
    {
        while (true)
        {
            foreach (var address in Loopbacks)
                if (await CanConnectAsync(address, ct)) return;
            await Task.Delay(_interval, ct);
        }
    }

    private async Task<bool> CanConnectAsync(IPAddress address, CancellationToken ct)
    {
        using var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(1));
        try
        {
            await socket.ConnectAsync(new IPEndPoint(address, port), timeout.Token);
            return true;
        }
        catch (SocketException) { return false; }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested) { return false; }
    }
}

/// <summary>Ready when GET http://127.0.0.1:PORT/PATH answers 2xx or 3xx (redirects are not followed).</summary>
public sealed class HttpProbe(int port, string path, TimeSpan? interval = null) : IReadinessProbe
{
    private readonly TimeSpan _interval = interval ?? TimeSpan.FromMilliseconds(500);
    private readonly Uri _url = new($"http://127.0.0.1:{port}{(path.StartsWith('/') ? path : "/" + path)}");
    public string Description => $"GET {_url} answers 2xx/3xx";

    public async Task WaitAsync(CancellationToken ct)
    {
        using var http = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, ConnectTimeout = TimeSpan.FromSeconds(1) })
        {
            Timeout = TimeSpan.FromSeconds(3),
        };
        while (true)
        {
            try
            {
                using var response = await http.GetAsync(_url, HttpCompletionOption.ResponseHeadersRead, ct);
                if ((int)response.StatusCode is >= 200 and < 400) return;
            }
            catch (HttpRequestException) { }
            catch (TaskCanceledException) when (!ct.IsCancellationRequested) { } // one attempt timed out
            await Task.Delay(_interval, ct);
        }
    }
}

/// <summary>Ready when a line of the app's stdout or stderr matches the pattern.</summary>
public sealed class LogLineProbe(Regex pattern) : IReadinessProbe
{
    private readonly TaskCompletionSource _matched = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public string Description => $"a log line matches /{pattern}/";

    /// <summary>Fed every line the app prints (both streams).</summary>
    public void Observe(string line)
    {
        if (_matched.Task.IsCompleted) return;
        try
        {
            if (pattern.IsMatch(line)) _matched.TrySetResult();
        }
        catch (RegexMatchTimeoutException) { } // a pathological pattern on one line must not stall the pump
    }

    public Task WaitAsync(CancellationToken ct) => _matched.Task.WaitAsync(ct);

    /// <summary>Compiles a user pattern with a match timeout; throws ArgumentException with the reason when invalid.</summary>
    public static Regex Compile(string pattern) =>
        new(pattern, RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(100));
}
