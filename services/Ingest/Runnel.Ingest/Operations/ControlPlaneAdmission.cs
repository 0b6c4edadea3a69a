using Microsoft.Extensions.Options;
using Runnel.Core.Errors;
using Runnel.Ingest.Streams;
using Runnel.Ingest.Throttling;

namespace Runnel.Ingest.Operations;

/// <summary>
/// The control plane's rates: an operation with a configured account rate is admitted before it runs, and one scoped
/// per stream (<c>Throttling:ControlPlane:&lt;op&gt;:Scope=Stream</c>) once it knows its stream. Refusals are
/// LimitExceededException. The data plane is limited per shard inside its operations instead.
/// </summary>
internal sealed class ControlPlaneAdmission(
    IThroughputLimiter limiter,
    IOptionsMonitor<ThrottlingOptions> throttling,
    RouteCache routes,
    KinesisStreams streams)
{
    public async ValueTask AdmitAsync(string operation, CancellationToken ct)
    {
        if (!await limiter.TryAcquireControlPlaneAsync(operation, null, ct))
            throw KinesisException.LimitExceeded($"Rate exceeded for operation {operation} under account {streams.Account}.");
    }

    /// <summary>
    /// Admits a call against the operation's per-stream rate when it has one (ListShards by default). A stream that does
    /// not exist is left to the operation to report.
    /// </summary>
    public async ValueTask AdmitPerStreamAsync(string operation, string streamName, CancellationToken ct)
    {
        // An account-wide rate was already taken by AdmitAsync; taking it again here would halve it.
        if (!throttling.CurrentValue.ControlPlane.TryGetValue(operation, out var limit) || limit is not { Scope: ControlPlaneScope.Stream })
            return;
        var route = await routes.FindAsync(streamName);
        if (route is not null && !await limiter.TryAcquireControlPlaneAsync(operation, new StreamKey(route.StreamId, route.Name), ct))
            throw KinesisException.LimitExceeded($"Rate exceeded for stream {route.Name} under account {streams.Account}.");
    }
}
