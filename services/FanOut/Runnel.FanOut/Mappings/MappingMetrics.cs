using System.Diagnostics.Metrics;

namespace Runnel.FanOut.Mappings;

/// <summary>Event source mapping delivery on the <c>Runnel.FanOut</c> meter, tagged by mapping UUID.</summary>
public sealed class MappingMetrics
{
    private readonly Counter<long> _batches;
    private readonly Counter<long> _records;
    private readonly Counter<long> _failures;
    private readonly Counter<long> _retries;
    private readonly Counter<long> _discarded;
    private readonly Histogram<double> _iteratorAge;

    public MappingMetrics(IMeterFactory meters)
    {
        var meter = meters.Create("Runnel.FanOut");
        _batches = meter.CreateCounter<long>("runnel.fanout.mapping.batches", description: "Batches the function accepted.");
        _records = meter.CreateCounter<long>("runnel.fanout.mapping.records", description: "Records the function accepted.");
        _failures = meter.CreateCounter<long>("runnel.fanout.mapping.invocation_failures", description: "Invocations that failed (error status, timeout, unreachable, reported items).");
        _retries = meter.CreateCounter<long>("runnel.fanout.mapping.retries", description: "Batches invoked again after a failure, bisections excluded.");
        _discarded = meter.CreateCounter<long>("runnel.fanout.mapping.discarded_batches", description: "Batches that exhausted retries or age and went to the on-failure destination.");
        _iteratorAge = meter.CreateHistogram<double>("runnel.fanout.mapping.iterator_age", unit: "ms", description: "Age of the last record of each delivered batch.");
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
}
