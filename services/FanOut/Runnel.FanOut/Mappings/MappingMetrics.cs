using System.Diagnostics.Metrics;

namespace Runnel.FanOut.Mappings;

/// <summary>
/// Event source mapping delivery on the <c>Runnel.FanOut</c> meter, tagged by mapping UUID. The factory owns the
/// meter and may share it with other hosts of the process; disposing this only silences its gauges.
/// </summary>
public sealed class MappingMetrics : IDisposable
{
    private readonly Counter<long> _batches;
    private readonly Counter<long> _records;
    private readonly Counter<long> _failures;
    private readonly Counter<long> _retries;
    private readonly Counter<long> _discarded;
    private readonly Histogram<double> _iteratorAge;
    private readonly Counter<long> _steals;
    private volatile IReadOnlyDictionary<string, int> _held = new Dictionary<string, int>();
    private volatile int _workers;
    private volatile bool _disposed;

    public MappingMetrics(IMeterFactory meters)
    {
        var meter = meters.Create("Runnel.FanOut");
        _batches = meter.CreateCounter<long>("runnel.fanout.mapping.batches", description: "Batches the function accepted.");
        _records = meter.CreateCounter<long>("runnel.fanout.mapping.records", description: "Records the function accepted.");
        _failures = meter.CreateCounter<long>("runnel.fanout.mapping.invocation_failures", description: "Invocations that failed (error status, timeout, unreachable, reported items).");
        _retries = meter.CreateCounter<long>("runnel.fanout.mapping.retries", description: "Batches invoked again after a failure, bisections excluded.");
        _discarded = meter.CreateCounter<long>("runnel.fanout.mapping.discarded_batches", description: "Batches that exhausted retries or age and went to the on-failure destination.");
        _iteratorAge = meter.CreateHistogram<double>("runnel.fanout.mapping.iterator_age", unit: "ms", description: "Age of the last record of each delivered batch.");
        _steals = meter.CreateCounter<long>("runnel.fanout.mapping.lease_steals", description: "Shard leases this replica took from a more loaded one.");
        meter.CreateObservableGauge<int>("runnel.fanout.mapping.leases_held",
            () => _disposed ? [] : _held.Select(h => new Measurement<int>(h.Value, new KeyValuePair<string, object?>("mapping", h.Key))),
            description: "Shard leases this replica holds and delivers, per mapping.");
        meter.CreateObservableGauge<int>("runnel.fanout.mapping.workers", () => _disposed ? [] : [new Measurement<int>(_workers)],
            description: "Replicas delivering mappings, as this replica counted them at its last scan.");
    }

    public void Delivered(string mapping, int records, double iteratorAgeMs)
    {
        var tag = new KeyValuePair<string, object?>("mapping", mapping);
        _batches.Add(1, tag);
        _records.Add(records, tag);
        _iteratorAge.Record(Math.Max(0, iteratorAgeMs), tag);
    }

    public void Failed(string mapping) => _failures.Add(1, new KeyValuePair<string, object?>("mapping", mapping));
    public void Retried(string mapping) => _retries.Add(1, new KeyValuePair<string, object?>("mapping", mapping));
    public void Discarded(string mapping, string condition) =>
        _discarded.Add(1, new KeyValuePair<string, object?>("mapping", mapping), new KeyValuePair<string, object?>("condition", condition));

    public void Stole(string mapping) => _steals.Add(1, new KeyValuePair<string, object?>("mapping", mapping));

    /// <summary>The leases held per mapping and the live replicas, as of the last scan.</summary>
    public void Balanced(IReadOnlyDictionary<string, int> heldByMapping, int workers)
    {
        _held = heldByMapping;
        _workers = workers;
    }

    public void Dispose() => _disposed = true;
}
