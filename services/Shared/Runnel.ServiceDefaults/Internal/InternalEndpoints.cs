using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Runnel.ServiceDefaults.Internal;

/// <summary>Marks an endpoint as node-to-node: served only on the internal listener, to callers with the token.</summary>
public sealed class InternalEndpointMetadata
{
    public static readonly InternalEndpointMetadata Instance = new();
}

/// <summary>What this process knows about its internal listener, resolved once from <see cref="InternalEndpointOptions"/>.</summary>
public sealed class InternalEndpoint
{
    private readonly byte[]? _tokenHash;

    public InternalEndpoint(IOptions<InternalEndpointOptions> options)
    {
        var o = options.Value;
        Urls = InternalEndpoints.SplitUrls(o.Urls);
        Ports = Urls.Select(InternalEndpoints.PortOf).ToHashSet();
        Token = string.IsNullOrEmpty(o.Token) ? null : o.Token;
        RequireToken = o.RequireToken;
        _tokenHash = Token is null ? null : SHA256.HashData(Encoding.UTF8.GetBytes(Token));
    }

    /// <summary>The internal listener's URLs; empty when this process has none (Standalone).</summary>
    public IReadOnlyList<string> Urls { get; }

    public IReadOnlySet<int> Ports { get; }

    public string? Token { get; }

    public bool RequireToken { get; }

    /// <summary>Whether the request came in on the internal listener.</summary>
    public bool IsInternalConnection(HttpContext http) => Ports.Contains(http.Connection.LocalPort);

    /// <summary>
    /// Compares the presented token with the configured one in constant time (both hashed first, so neither the
    /// content nor the length leaks through timing). Without a configured token, any caller passes only when
    /// <see cref="RequireToken"/> was switched off.
    /// </summary>
    public bool Admits(HttpContext http)
    {
        if (_tokenHash is null)
            return !RequireToken;
        var presented = http.Request.Headers[InternalEndpointOptions.TokenHeader].ToString();
        if (presented.Length == 0 && AuthenticationHeaderValue.TryParse(http.Request.Headers.Authorization.ToString(), out var auth)
            && string.Equals(auth.Scheme, "Bearer", StringComparison.OrdinalIgnoreCase))
            presented = auth.Parameter ?? "";
        return CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(presented)), _tokenHash);
    }
}

/// <summary>Sends the internal token on a node-to-node HttpClient.</summary>
public sealed class InternalTokenHandler(InternalEndpoint endpoint) : DelegatingHandler
{
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (endpoint.Token is { } token)
            request.Headers.TryAddWithoutValidation(InternalEndpointOptions.TokenHeader, token);
        return base.SendAsync(request, cancellationToken);
    }
}

public static class InternalEndpoints
{
    /// <summary>Binds <see cref="InternalEndpointOptions"/> and registers <see cref="InternalEndpoint"/>. Idempotent.</summary>
    public static IServiceCollection AddInternalEndpointServices(this IServiceCollection services)
    {
        if (services.Any(d => d.ServiceType == typeof(InternalEndpoint)))
            return services;
        services.AddOptions<InternalEndpointOptions>().BindConfiguration(InternalEndpointOptions.Section);
        services.AddSingleton<InternalEndpoint>();
        return services;
    }

    /// <summary>
    /// A deployed service's internal listener: binds <see cref="InternalEndpointOptions"/>, adds its URLs to the
    /// server's (next to <c>--urls</c> / <c>ASPNETCORE_URLS</c>), and refuses to start without a token unless
    /// <c>Runnel:Internal:RequireToken=false</c>. <paramref name="servesInternalRoutes"/>: the host maps node-to-node
    /// routes and so needs the listener (Ingest only calls out and may go without one).
    /// </summary>
    public static WebApplicationBuilder AddRunnelInternalEndpoint(this WebApplicationBuilder builder, bool servesInternalRoutes)
    {
        var options = builder.Configuration.GetSection(InternalEndpointOptions.Section).Get<InternalEndpointOptions>() ?? new();
        if (options.RequireToken && string.IsNullOrEmpty(options.Token))
            throw new InvalidOperationException($"Refusing to start: {InternalEndpointOptions.Section}:Token is not set; give every Runnel service the same secret (or set {InternalEndpointOptions.Section}:RequireToken=false on a network trusted by other means).");
        var urls = SplitUrls(options.Urls);
        if (servesInternalRoutes && urls.Count == 0)
            throw new InvalidOperationException($"Refusing to start: {InternalEndpointOptions.Section}:Urls is not set; this service serves node-to-node routes only on its internal listener (e.g. http://0.0.0.0:4701).");
        if (urls.Count > 0)
        {
            var publicUrls = SplitUrls(builder.Configuration[WebHostDefaults.ServerUrlsKey] ?? "http://localhost:5000");
            var clash = publicUrls.Select(PortOf).Intersect(urls.Select(PortOf)).ToList();
            if (clash.Count > 0)
                throw new InvalidOperationException($"Refusing to start: {InternalEndpointOptions.Section}:Urls uses port {clash[0]}, which the public listener uses too; pick another port.");
            builder.WebHost.UseUrls([.. publicUrls, .. urls]);
        }
        return builder;
    }

    /// <summary>Serves the endpoints only on the internal listener, to callers with the token.</summary>
    public static TBuilder RequireInternal<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(InternalEndpointMetadata.Instance);

    /// <summary>Adds the internal token to a node-to-node HttpClient's requests.</summary>
    public static IHttpClientBuilder AddInternalToken(this IHttpClientBuilder builder) =>
        builder.AddHttpMessageHandler(sp => new InternalTokenHandler(sp.GetRequiredService<InternalEndpoint>()));

    /// <summary>
    /// The port filter: an internal endpoint reached on a public port answers 404 (as if it did not exist), and on the
    /// internal port without the token 403; the internal port serves nothing but internal endpoints, <c>/health/*</c>
    /// and <c>/metrics</c> (the latter with the token too).
    /// </summary>
    internal static void UseInternalEndpoints(this WebApplication app)
    {
        var endpoint = app.Services.GetRequiredService<InternalEndpoint>();
        app.Use(async (http, next) =>
        {
            var isInternal = http.GetEndpoint()?.Metadata.GetMetadata<InternalEndpointMetadata>() is not null;
            if (!endpoint.IsInternalConnection(http))
            {
                if (isInternal)
                {
                    http.Response.StatusCode = StatusCodes.Status404NotFound;
                    return;
                }
                await next(http);
                return;
            }
            var path = http.Request.Path;
            if (path.StartsWithSegments("/health"))
            {
                await next(http);
                return;
            }
            if (!isInternal && !path.StartsWithSegments(Extensions.MetricsPath))
            {
                http.Response.StatusCode = StatusCodes.Status404NotFound;
                return;
            }
            if (!endpoint.Admits(http))
            {
                http.Response.StatusCode = StatusCodes.Status403Forbidden;
                await http.Response.WriteAsJsonAsync(new Dictionary<string, string> { ["message"] = $"The {InternalEndpointOptions.TokenHeader} header is missing or wrong." }, http.RequestAborted);
                return;
            }
            await next(http);
        });
    }

    internal static IReadOnlyList<string> SplitUrls(string? urls) =>
        (urls ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    internal static int PortOf(string url)
    {
        var normalized = url.Replace("://+", "://localhost", StringComparison.Ordinal).Replace("://*", "://localhost", StringComparison.Ordinal);
        if (!Uri.TryCreate(normalized, UriKind.Absolute, out var uri))
            throw new InvalidOperationException($"Refusing to start: '{url}' is not a listener URL.");
        return uri.Port;
    }
}
