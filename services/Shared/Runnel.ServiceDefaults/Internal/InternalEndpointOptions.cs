namespace Runnel.ServiceDefaults.Internal;

/// <summary>
/// The node-to-node listener (section <c>Runnel:Internal</c>): the ShardStore node API, the gateway's forwarding
/// routes and FanOut's forwarded event-source-mapping API are served only on it, and only to callers that present
/// <see cref="Token"/>.
/// </summary>
public sealed class InternalEndpointOptions
{
    public const string Section = "Runnel:Internal";

    /// <summary>The header every internal call carries the shared secret in.</summary>
    public const string TokenHeader = "X-Runnel-Internal-Token";

    /// <summary>
    /// Where the internal listener binds, Kestrel's URL form separated by <c>;</c> (e.g. <c>http://0.0.0.0:4701</c>).
    /// Its ports must differ from the public ones: a request is internal by the local port it arrived on.
    /// </summary>
    public string? Urls { get; set; }

    /// <summary>The shared secret of every Runnel pod; sent by callers, compared in constant time by servers.</summary>
    public string? Token { get; set; }

    /// <summary>
    /// A deployed service refuses to start without <see cref="Token"/>; <c>false</c> lets it run without one (a
    /// network that is trusted by other means), in which case internal routes take any caller on the internal port.
    /// </summary>
    public bool RequireToken { get; set; } = true;
}
