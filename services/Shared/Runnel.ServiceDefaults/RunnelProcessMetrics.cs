using System.Diagnostics.Metrics;

namespace Runnel.ServiceDefaults;

/// <summary>
/// The <c>Runnel.Process</c> meter: <c>runnel.build.info</c> is always 1 and carries the version and
/// node as tags, the usual way to join build metadata onto other series in PromQL.
/// </summary>
public sealed class RunnelProcessMetrics : IDisposable
{
    public const string MeterName = "Runnel.Process";

    private readonly Meter _meter;

    public RunnelProcessMetrics(ServiceIdentity identity)
    {
        _meter = new Meter(MeterName, identity.Version);
        var tags = new KeyValuePair<string, object?>[] { new("version", identity.Version), new("node", identity.NodeName) };
        _meter.CreateObservableGauge("runnel.build.info", () => new Measurement<int>(1, tags), description: "Build and node of this process; always 1.");
    }

    public void Dispose() => _meter.Dispose();
}
