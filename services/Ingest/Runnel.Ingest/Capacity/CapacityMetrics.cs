using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Runnel.Ingest.Capacity;

/// <summary>
/// The <c>Runnel.Capacity</c> meter: scaling decisions of on-demand streams (tagged <c>stream</c> and
/// <c>action</c> = ScaleUp, ScaleDown or Refused) and the open shard count of every on-demand stream the
/// scaler looked at last (reported by the replica that holds the scaler's lease only).
/// </summary>
public sealed class CapacityMetrics : IDisposable
{
    public const string MeterName = "Runnel.Capacity";

    private readonly Counter<long> _decisions;
    private readonly ConcurrentDictionary<string, int> _openShards = new(StringComparer.Ordinal);
    private volatile bool _disposed;

    public CapacityMetrics(IMeterFactory meters)
    {
        // The factory owns the meter and may share it with other hosts of the process; Dispose only stops this
        // instance's gauge from reporting.
        var meter = meters.Create(MeterName);
        _decisions = meter.CreateCounter<long>("runnel.ondemand.scaling_decisions", "{decision}", "Automatic resharding decisions for on-demand streams.");
        meter.CreateObservableGauge("runnel.ondemand.open_shards", ObserveOpenShards, "{shard}", "Open shards of each on-demand stream.");
    }

    public void Decision(string stream, string action) =>
        _decisions.Add(1, new KeyValuePair<string, object?>("stream", stream), new KeyValuePair<string, object?>("action", action));

    /// <summary>Replaces the set of on-demand streams and their open shard counts.</summary>
    public void OpenShards(IReadOnlyDictionary<string, int> streams)
    {
        foreach (var name in _openShards.Keys)
            if (!streams.ContainsKey(name))
                _openShards.TryRemove(name, out _);
        foreach (var (name, count) in streams)
            _openShards[name] = count;
    }

    private IEnumerable<Measurement<int>> ObserveOpenShards() => _disposed ? [] :
        _openShards.Select(kv => new Measurement<int>(kv.Value, new KeyValuePair<string, object?>("stream", kv.Key)));

    public void Dispose()
    {
        _disposed = true;
        _openShards.Clear();
    }
}
