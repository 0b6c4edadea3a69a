using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;

namespace Runnel.Ingest.Throttling;

/// <summary>
/// Per-shard stream metrics under the names CloudWatch gives them, in the <c>Runnel.Streams</c>
/// meter, tagged with <c>stream</c> and <c>shard</c>. At most <see cref="MaxSeries"/> stream/shard
/// pairs get their own tags; later ones are counted under <c>stream=other, shard=other</c>, so a
/// deployment with very many shards cannot blow up the metrics backend.
///
/// The counters are observable: a call adds to its series' cells (two interlocked adds) and the
/// metrics SDK reads every cell when it collects. A synchronous counter would hash the tags and look
/// the series up in the SDK's aggregator again on every add, on the path of every PutRecord.
/// The factory owns the meter and may share it with other hosts of the process (tests): each instance
/// reports its own totals, and disposing it only silences them.
/// </summary>
public sealed class StreamMetrics : IDisposable
{
    public const string MeterName = "Runnel.Streams";

    /// <summary>Distinct stream/shard pairs with their own series.</summary>
    public const int MaxSeries = 2000;

    private readonly Histogram<long> _iteratorAge;
    private readonly ConcurrentDictionary<(string, int), Series> _series = new();
    private readonly Series _overflow = new([new("stream", "other"), new("shard", "other")]);
    private volatile bool _disposed;

    public StreamMetrics(IMeterFactory meters)
    {
        // The factory owns the meter: it lives as long as the factory (the process, for Runnel meters).
        var meter = meters.Create(MeterName);
        meter.CreateObservableCounter("IncomingBytes", () => Observe(static s => s.IncomingBytes), "By", "Bytes (data + partition key) accepted by PutRecord and PutRecords.");
        meter.CreateObservableCounter("IncomingRecords", () => Observe(static s => s.IncomingRecords), "{record}", "Records accepted by PutRecord and PutRecords.");
        meter.CreateObservableCounter("WriteProvisionedThroughputExceeded", () => Observe(static s => s.WriteExceeded), "{record}", "Records refused by the shard's write limits.");
        meter.CreateObservableCounter("ReadProvisionedThroughputExceeded", () => Observe(static s => s.ReadExceeded), "{call}", "GetRecords calls refused by the shard's read limits.");
        meter.CreateObservableCounter("OutgoingBytes", () => Observe(static s => s.OutgoingBytes), "By", "Bytes returned by GetRecords.");
        meter.CreateObservableCounter("OutgoingRecords", () => Observe(static s => s.OutgoingRecords), "{record}", "Records returned by GetRecords.");
        _iteratorAge = meter.CreateHistogram<long>("GetRecords.IteratorAgeMilliseconds", "ms", "How far behind the tip of the shard a GetRecords call read.");
    }

    public void RecordsIn(string stream, int shard, long records, long bytes)
    {
        var series = SeriesOf(stream, shard);
        Interlocked.Add(ref series.IncomingRecords, records);
        Interlocked.Add(ref series.IncomingBytes, bytes);
    }

    public void WriteThrottled(string stream, int shard, long records) => Interlocked.Add(ref SeriesOf(stream, shard).WriteExceeded, records);

    public void ReadThrottled(string stream, int shard) => Interlocked.Increment(ref SeriesOf(stream, shard).ReadExceeded);

    public void RecordsOut(string stream, int shard, long records, long bytes, long millisBehindLatest)
    {
        var series = SeriesOf(stream, shard);
        Interlocked.Add(ref series.OutgoingRecords, records);
        Interlocked.Add(ref series.OutgoingBytes, bytes);
        _iteratorAge.Record(millisBehindLatest, series.Tags);
    }

    private Series SeriesOf(string stream, int shard)
    {
        if (_series.TryGetValue((stream, shard), out var series))
            return series;
        if (_series.Count >= MaxSeries)
            return _overflow;
        return _series.GetOrAdd((stream, shard), static k =>
            new([new("stream", k.Item1), new("shard", k.Item2.ToString(CultureInfo.InvariantCulture))]));
    }

    public void Dispose() => _disposed = true;

    private IEnumerable<Measurement<long>> Observe(Func<Series, long> read)
    {
        if (_disposed)
            yield break;
        foreach (var series in _series.Values)
            yield return new(read(series), series.Tags);
        if (_series.Count >= MaxSeries)
            yield return new(read(_overflow), _overflow.Tags);
    }

    /// <summary>One stream/shard pair's running totals; fields so calls can add to them in place.</summary>
    private sealed class Series(KeyValuePair<string, object?>[] tags)
    {
        public readonly KeyValuePair<string, object?>[] Tags = tags;
        public long IncomingBytes;
        public long IncomingRecords;
        public long WriteExceeded;
        public long ReadExceeded;
        public long OutgoingBytes;
        public long OutgoingRecords;
    }
}
