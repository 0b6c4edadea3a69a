using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;

namespace Runnel.Ingest.Throttling;

/// <summary>
/// Per-shard stream metrics under the names CloudWatch gives them, in the <c>Runnel.Streams</c>
/// meter, tagged with <c>stream</c> and <c>shard</c>. At most <see cref="MaxSeries"/> stream/shard
/// pairs get their own tags; later ones are counted under <c>stream=other, shard=other</c>, so a
/// deployment with very many shards cannot blow up the metrics backend.
/// </summary>
public sealed class StreamMetrics
{
    public const string MeterName = "Runnel.Streams";

    /// <summary>Distinct stream/shard pairs with their own series.</summary>
    public const int MaxSeries = 2000;

    private readonly Counter<long> _incomingBytes;
    private readonly Counter<long> _incomingRecords;
    private readonly Counter<long> _writeExceeded;
    private readonly Counter<long> _readExceeded;
    private readonly Counter<long> _outgoingBytes;
    private readonly Counter<long> _outgoingRecords;
    private readonly Histogram<long> _iteratorAge;
    private readonly ConcurrentDictionary<(string, int), KeyValuePair<string, object?>[]> _tags = new();
    private static readonly KeyValuePair<string, object?>[] Overflow = [new("stream", "other"), new("shard", "other")];

    public StreamMetrics(IMeterFactory meters)
    {
        // The factory owns the meter: it lives as long as the factory (the process, for Runnel meters).
        var meter = meters.Create(MeterName);
        _incomingBytes = meter.CreateCounter<long>("IncomingBytes", "By", "Bytes (data + partition key) accepted by PutRecord and PutRecords.");
        _incomingRecords = meter.CreateCounter<long>("IncomingRecords", "{record}", "Records accepted by PutRecord and PutRecords.");
        _writeExceeded = meter.CreateCounter<long>("WriteProvisionedThroughputExceeded", "{record}", "Records refused by the shard's write limits.");
        _readExceeded = meter.CreateCounter<long>("ReadProvisionedThroughputExceeded", "{call}", "GetRecords calls refused by the shard's read limits.");
        _outgoingBytes = meter.CreateCounter<long>("OutgoingBytes", "By", "Bytes returned by GetRecords.");
        _outgoingRecords = meter.CreateCounter<long>("OutgoingRecords", "{record}", "Records returned by GetRecords.");
        _iteratorAge = meter.CreateHistogram<long>("GetRecords.IteratorAgeMilliseconds", "ms", "How far behind the tip of the shard a GetRecords call read.");
    }

    public void RecordsIn(string stream, int shard, long records, long bytes)
    {
        var tags = Tags(stream, shard);
        _incomingRecords.Add(records, tags);
        _incomingBytes.Add(bytes, tags);
    }

    public void WriteThrottled(string stream, int shard, long records) => _writeExceeded.Add(records, Tags(stream, shard));

    public void ReadThrottled(string stream, int shard) => _readExceeded.Add(1, Tags(stream, shard));

    public void RecordsOut(string stream, int shard, long records, long bytes, long millisBehindLatest)
    {
        var tags = Tags(stream, shard);
        _outgoingRecords.Add(records, tags);
        _outgoingBytes.Add(bytes, tags);
        _iteratorAge.Record(millisBehindLatest, tags);
    }

    private ReadOnlySpan<KeyValuePair<string, object?>> Tags(string stream, int shard)
    {
        if (_tags.TryGetValue((stream, shard), out var tags))
        {
            return tags;
        }

        if (_tags.Count >= MaxSeries)
        {
            return Overflow;
        }

        return _tags.GetOrAdd((stream, shard), k =>
            [new("stream", k.Item1), new("shard", k.Item2.ToString(CultureInfo.InvariantCulture))]);
    }

}
