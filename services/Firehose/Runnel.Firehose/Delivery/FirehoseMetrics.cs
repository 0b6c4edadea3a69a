using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Runnel.Firehose.Delivery;

/// <summary>
/// Delivery stream metrics under the names CloudWatch gives them (namespace AWS/Firehose), in the <c>Runnel.Firehose</c>
/// meter, tagged with <c>delivery_stream</c> (CloudWatch's DeliveryStreamName dimension). Prometheus shows a dot as an
/// underscore and counters with <c>_total</c>: <c>DeliveryToS3_Records_total</c>. Like the stream metrics, the counters
/// are observable cells read at collection. The factory owns the meter; disposing this only silences its instruments.
/// </summary>
public sealed class FirehoseMetrics : IDisposable
{
    public const string MeterName = "Runnel.Firehose";

    private readonly ConcurrentDictionary<string, Series> _series = new(StringComparer.Ordinal);
    private readonly Histogram<double> _processingDuration;
    private volatile bool _disposed;

    public FirehoseMetrics(IMeterFactory meters)
    {
        var meter = meters.Create(MeterName);
        meter.CreateObservableCounter("IncomingRecords", () => Observe(static s => s.IncomingRecords), "{record}", "Records accepted by PutRecord and PutRecordBatch.");
        meter.CreateObservableCounter("IncomingBytes", () => Observe(static s => s.IncomingBytes), "By", "Bytes of data accepted by PutRecord and PutRecordBatch.");
        meter.CreateObservableCounter("IncomingPutRequests", () => Observe(static s => s.IncomingPutRequests), "{call}", "PutRecord and PutRecordBatch calls that stored their records.");
        meter.CreateObservableCounter("DeliveryToS3.Records", () => Observe(static s => s.Delivery.Records), "{record}", "Records written to the destination bucket.");
        meter.CreateObservableCounter("DeliveryToS3.Bytes", () => Observe(static s => s.Delivery.Bytes), "By", "Bytes of objects written to the destination bucket (after compression).");
        // CloudWatch averages a 0/1 per put into a ratio; as counters, Success / (Success + Failures) is that ratio.
        meter.CreateObservableCounter("DeliveryToS3.Success", () => Observe(static s => s.Delivery.Successes), "{call}", "Object writes the store accepted.");
        meter.CreateObservableCounter("DeliveryToS3.Failures", () => Observe(static s => s.PutFailures), "{call}", "Object writes that failed and are retried.");
        meter.CreateObservableCounter("BackupToS3.Records", () => Observe(static s => s.Backup.Records), "{record}", "Source records written to the backup bucket (S3BackupMode Enabled).");
        meter.CreateObservableCounter("BackupToS3.Bytes", () => Observe(static s => s.Backup.Bytes), "By", "Bytes of objects written to the backup bucket (after compression).");
        meter.CreateObservableCounter("BackupToS3.Success", () => Observe(static s => s.Backup.Successes), "{call}", "Backup object writes the store accepted.");
        meter.CreateObservableGauge("BackupToS3.DataFreshness", () => Observe(static s => Volatile.Read(ref s.Backup.FreshnessSeconds)), "s",
            "Age of the oldest record of the last backup object written.");
        meter.CreateObservableCounter("ExecuteProcessing.Success", () => Observe(static s => s.ProcessingSuccesses), "{call}", "Transform function invocations that answered with the status model.");
        meter.CreateObservableCounter("ExecuteProcessing.Failures", () => Observe(static s => s.ProcessingFailures), "{call}", "Transform function invocations that failed (retried, or their records failed).");
        meter.CreateObservableCounter("SucceedProcessing.Records", () => Observe(static s => s.ProcessedRecords), "{record}", "Records the transform function returned Ok or Dropped.");
        meter.CreateObservableCounter("SucceedProcessing.Bytes", () => Observe(static s => s.ProcessedBytes), "By", "Bytes of data the transform function returned.");
        _processingDuration = meter.CreateHistogram<double>("ExecuteProcessing.Duration", "ms", "Time of each transform function invocation.");
        meter.CreateObservableGauge("DeliveryToS3.DataFreshness", () => Observe(static s => Volatile.Read(ref s.Delivery.FreshnessSeconds)), "s",
            "Age of the oldest record of the last object written: arrival in Firehose to delivery.");
    }

    public void RecordsIn(string deliveryStream, long records, long bytes)
    {
        var series = SeriesOf(deliveryStream);
        Interlocked.Add(ref series.IncomingRecords, records);
        Interlocked.Add(ref series.IncomingBytes, bytes);
        Interlocked.Increment(ref series.IncomingPutRequests);
    }

    public void Delivered(string deliveryStream, long records, long bytes, long oldestArrivalUnixMs, long nowUnixMs) =>
        SeriesOf(deliveryStream).Delivery.Add(records, bytes, oldestArrivalUnixMs, nowUnixMs);

    /// <summary>One object of source records written to the backup bucket.</summary>
    public void BackedUp(string deliveryStream, long records, long bytes, long oldestArrivalUnixMs, long nowUnixMs) =>
        SeriesOf(deliveryStream).Backup.Add(records, bytes, oldestArrivalUnixMs, nowUnixMs);

    /// <summary>One invocation of a transform function: how long it took, whether it answered, and what it processed.</summary>
    public void Processed(string deliveryStream, double milliseconds, bool succeeded, long records, long bytes)
    {
        var series = SeriesOf(deliveryStream);
        if (!_disposed)
            _processingDuration.Record(milliseconds, series.Tag);
        if (!succeeded)
        {
            Interlocked.Increment(ref series.ProcessingFailures);
            return;
        }
        Interlocked.Increment(ref series.ProcessingSuccesses);
        Interlocked.Add(ref series.ProcessedRecords, records);
        Interlocked.Add(ref series.ProcessedBytes, bytes);
    }

    public void DeliveryFailed(string deliveryStream) => Interlocked.Increment(ref SeriesOf(deliveryStream).PutFailures);

    public void Dispose() => _disposed = true;

    private Series SeriesOf(string deliveryStream) => _series.GetOrAdd(deliveryStream, static n => new Series(n));

    private IEnumerable<Measurement<long>> Observe(Func<Series, long> value) =>
        _disposed ? [] : _series.Values.Select(s => new Measurement<long>(value(s), s.Tag));

    private sealed class Series(string deliveryStream)
    {
        public readonly KeyValuePair<string, object?> Tag = new("delivery_stream", deliveryStream);
        public long IncomingRecords;
        public long IncomingBytes;
        public long IncomingPutRequests;
        public readonly ObjectWrites Delivery = new();
        public readonly ObjectWrites Backup = new();
        public long PutFailures;
        public long ProcessingSuccesses;
        public long ProcessingFailures;
        public long ProcessedRecords;
        public long ProcessedBytes;
    }

    /// <summary>Objects written to one bucket: their records, bytes, count and the age of the last one's oldest record.</summary>
    private sealed class ObjectWrites
    {
        public long Records;
        public long Bytes;
        public long Successes;
        public long FreshnessSeconds;

        public void Add(long records, long bytes, long oldestArrivalUnixMs, long nowUnixMs)
        {
            Interlocked.Add(ref Records, records);
            Interlocked.Add(ref Bytes, bytes);
            Interlocked.Increment(ref Successes);
            Volatile.Write(ref FreshnessSeconds, Math.Max(0, nowUnixMs - oldestArrivalUnixMs) / 1000);
        }
    }
}
