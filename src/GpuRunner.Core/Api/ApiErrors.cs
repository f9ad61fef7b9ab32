using System.Text.Json;
using GpuRunner.Core.Storage;
using GpuRunner.Lifecycle;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace GpuRunner.Core.Api;

/// <summary>An HTTP-level refusal that is not a domain rule: auth (401), body too large (413), malformed body (400).</summary>
public sealed class ApiException(int status, string message) : Exception(message)
{
    public int Status { get; } = status;
    /// <summary>429: sent as Retry-After.</summary>
    public long? RetryAfterSeconds { get; init; }
}

/// <summary>
/// The one place errors become responses: ProblemDetails JSON that also carries `error` (the field the Hub client
/// shows). Expected refusals are logged at Debug; anything else is a 500 with a generic message and a logged trace,
/// so bad input can never surface as a stack trace.
/// </summary>
public static class ApiErrors
{
    public static int StatusOf(LifecycleErrorKind kind) => kind switch
    {
        LifecycleErrorKind.BadInput => StatusCodes.Status400BadRequest,
        LifecycleErrorKind.Forbidden => StatusCodes.Status403Forbidden,
        LifecycleErrorKind.NotFound => StatusCodes.Status404NotFound,
        LifecycleErrorKind.Conflict or LifecycleErrorKind.IllegalTransition or LifecycleErrorKind.Stale => StatusCodes.Status409Conflict,
        LifecycleErrorKind.RuleBroken => StatusCodes.Status422UnprocessableEntity,
        _ => StatusCodes.Status500InternalServerError,
    };

    public static async Task Middleware(HttpContext ctx, RequestDelegate next)
    {
        try
        {
            await next(ctx);
        }
        catch (Exception e) when (!ctx.Response.HasStarted && !ctx.RequestAborted.IsCancellationRequested)
        {
            var (status, message, code) = Describe(e);
            if (status == 500) Log(ctx)?.LogError(e, "{Method} {Path} failed", ctx.Request.Method, ctx.Request.Path);
            if (e is ApiException { RetryAfterSeconds: { } wait }) ctx.Response.OnStarting(() => { ctx.Response.Headers.RetryAfter = wait.ToString(); return Task.CompletedTask; });
            await WriteAsync(ctx, status, message, code);
        }
        catch (Exception e) when (!ctx.Response.HasStarted && ctx.RequestAborted.IsCancellationRequested)
        {
            // The client went away (its timeout) before the answer: nobody to answer, and not a crash of the core.
            Log(ctx)?.LogWarning("{Method} {Path}: the client went away before the answer ({Reason})", ctx.Request.Method, ctx.Request.Path, e.Message);
        }
    }

    private static ILogger? Log(HttpContext ctx) =>
        (ctx.RequestServices.GetService(typeof(ILoggerFactory)) as ILoggerFactory)?.CreateLogger("GpuRunner.Core");

    /// <summary>The status, message and code an exception answers with (500 and a generic message for a bug).</summary>
    public static (int Status, string Message, string Code) Describe(Exception e) => e switch
    {
        LifecycleException l => (StatusOf(l.Kind), l.Message, KindCode(l.Kind)),
        ApiException a => (a.Status, a.Message, a.Status switch { 401 => "unauthorized", 413 => "too_large", 429 => "too_many_requests", 503 => "unavailable", _ => "bad_request" }),
        BadHttpRequestException b => (b.StatusCode, b.StatusCode == 413 ? "request body too large" : BadRequestMessage(b), b.StatusCode == 413 ? "too_large" : "bad_request"),
        JsonException j => (400, Http.JsonError(j), "bad_request"),
        StoreUnavailableException u => (503, u.Message, "unavailable"),
        _ => (500, "internal error in the core (logged); please report it", "internal"),
    };

    /// <summary>
    /// A binding failure says which parameter and value, not the .NET type it wanted (ASP.NET's message is
    /// 'Failed to bind parameter "bool? factory" from "maybe".').
    /// </summary>
    private static string BadRequestMessage(BadHttpRequestException b)
    {
        var m = System.Text.RegularExpressions.Regex.Match(b.Message, "^Failed to bind parameter \"[^\"]*?(\\w+)\" from \"(.*)\"\\.?$");
        if (m.Success) return $"'{m.Groups[1].Value}' has a bad value '{Http.Clip(m.Groups[2].Value)}'";
        if (b.Message.StartsWith("Required parameter", StringComparison.Ordinal)) return "a required parameter is missing";
        return b.Message.Contains("System.", StringComparison.Ordinal) || b.Message.Contains("GpuRunner.", StringComparison.Ordinal)
            ? "bad request" : "bad request: " + b.Message;
    }

    private static string KindCode(LifecycleErrorKind k) => k switch
    {
        LifecycleErrorKind.IllegalTransition => "illegal_transition",
        LifecycleErrorKind.RuleBroken => "rule_broken",
        LifecycleErrorKind.BadInput => "bad_request",
        LifecycleErrorKind.NotFound => "not_found",
        LifecycleErrorKind.Forbidden => "forbidden",
        LifecycleErrorKind.Stale => "stale_event",
        _ => "conflict",
    };

    public static Task WriteAsync(HttpContext ctx, int status, string message, string code)
    {
        ctx.Response.Clear();
        ctx.Response.StatusCode = status;
        // ProblemDetails' own media type when the caller asks for it; plain application/json otherwise, because Hub
        // clients read the body's `error` only from a response they recognise as JSON (@huggingface/hub checks that
        // Content-Type starts with "application/json").
        var problem = ctx.Request.Headers.Accept.ToString().Contains("application/problem+json", StringComparison.OrdinalIgnoreCase);
        ctx.Response.ContentType = problem ? "application/problem+json" : "application/json; charset=utf-8";
        if (status == 401) ctx.Response.Headers.WWWAuthenticate = "Bearer";
        if (status == 503) ctx.Response.Headers.RetryAfter = "1";
        // huggingface_hub's hf_raise_for_status (utils/_http.py) reads these headers: X-Error-Message is quoted in its
        // 403 text and shown with the body's `error`; X-Error-Code RepoNotFound makes a RepositoryNotFoundError, the
        // only error delete_repo(missing_ok=True) swallows.
        ctx.Response.Headers["X-Error-Message"] = HeaderSafe(message);
        if (status == 404 && code == "not_found" && IsRepoRoute(ctx.Request.Path)) ctx.Response.Headers["X-Error-Code"] = "RepoNotFound";
        var body = new Dictionary<string, object?>
        {
            ["type"] = $"https://httpstatuses.io/{status}",
            ["title"] = ReasonPhrase(status),
            ["status"] = status,
            ["detail"] = message,
            ["error"] = message,
            ["code"] = code,
        };
        return ctx.Response.WriteAsync(JsonSerializer.Serialize(body, ApiJson.Object));
    }

    private static bool IsRepoRoute(PathString path) =>
        path.StartsWithSegments("/api/spaces") || path.StartsWithSegments("/api/repos");

    /// <summary>A header value Kestrel accepts: printable ASCII only (anything else becomes '?', line breaks a space).</summary>
    private static string HeaderSafe(string s) => string.Create(Math.Min(s.Length, 1000), s, static (span, src) =>
    {
        for (var i = 0; i < span.Length; i++)
        {
            var ch = src[i];
            span[i] = ch is '\r' or '\n' or '\t' ? ' ' : ch is >= ' ' and <= '~' ? ch : '?';
        }
    });

    private static string ReasonPhrase(int status) => Microsoft.AspNetCore.WebUtilities.ReasonPhrases.GetReasonPhrase(status);
}
