using System.Buffers;
using System.Diagnostics;

namespace Runnel.LoadBench;

/// <summary>
/// Put-to-visible latency: one producer sends single records at a steady rate while one poller per shard calls
/// GetRecords every poll interval (from LATEST, started before the first put). A record's latency runs from the
/// start of its PutRecord call to the moment a poller's answer holding it arrived, so it includes the put itself,
/// the wait for the next poll and the GetRecords call. Records sent during the warm-up are not counted.
/// </summary>
public static class LatencyScenario
{
    private const uint Producer = 0x4C41_5400;
    /// <summary>How long the pollers keep looking for records after the last put.</summary>
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(2);

    private struct PollState
    {
        public long[] SentAt;
        public long[] SeenAt;
        public long Unknown;
    }

    public static async Task<ScenarioResult> RunAsync(BenchOptions options, string stream, IReadOnlyList<string> shardIds, CancellationToken cancellationToken)
    {
        var total = (int)Math.Ceiling((options.Warmup + options.LatencyDuration).TotalSeconds * options.LatencyRate);
        var warmupRecords = (int)(options.Warmup.TotalSeconds * options.LatencyRate);
        var sentAt = new long[total];
        var seenAt = new long[total];
        var putStats = new ProducerStats();
        var pollStats = shardIds.Select(_ => new ProducerStats()).ToArray();

        // Every poller holds a LATEST iterator before the first put, so no record can slip past them.
        var iterators = new string[shardIds.Count];
        using (var admin = new KinesisConnection(options.Endpoint, options.Http, options.RequestTimeout))
            for (var i = 0; i < shardIds.Count; i++)
                iterators[i] = await new StreamAdmin(admin).GetShardIteratorAsync(stream, shardIds[i], "LATEST", cancellationToken);

        var sampler = ResourceSampler.Start(options.ServerPids);
        using var stopPolling = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var pollers = Enumerable.Range(0, shardIds.Count)
            .Select(i => Task.Run(() => PollAsync(options, iterators[i], sentAt, seenAt, pollStats[i], stopPolling.Token), cancellationToken))
            .ToArray();
        var started = Stopwatch.GetTimestamp();
        var acked = await ProduceAsync(options, stream, sentAt, total, putStats, cancellationToken);
        var producing = Stopwatch.GetElapsedTime(started).TotalSeconds;

        // Wait until every acknowledged record was seen, or the grace period ran out.
        var deadline = Stopwatch.GetTimestamp() + (long)(Grace.TotalSeconds * Stopwatch.Frequency);
        while (Stopwatch.GetTimestamp() < deadline && Enumerable.Range(0, total).Any(i => acked[i] && Volatile.Read(ref seenAt[i]) == 0))
            await Task.Delay(10, cancellationToken);
        await stopPolling.CancelAsync();
        await Task.WhenAll(pollers);
        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var resources = await sampler.StopAsync();

        var visible = new LatencyRecorder();
        long missing = 0;
        for (var i = warmupRecords; i < total; i++)
        {
            if (!acked[i])
                continue;
            if (seenAt[i] == 0)
                missing++;
            else
                visible.Add(seenAt[i] - sentAt[i]);
        }
        var errors = new ErrorCounter();
        foreach (var (type, n) in ErrorCounter.Merge(pollStats.Select(p => p.Errors).Append(putStats.Errors)))
            errors.Add(type, n);
        if (missing > 0)
            errors.Add("NotSeen", missing);
        return new ScenarioResult
        {
            Name = BenchOptions.Latency,
            Seconds = Math.Round(seconds, 3),
            Requests = putStats.Requests,
            Records = visible.Count,
            Bytes = (long)visible.Count * options.RecordBytes,
            RequestsPerSecond = Math.Round(putStats.Requests / seconds, 1),
            // The rate achieved: a server slower than the schedule gets fewer records, not a longer run.
            RecordsPerSecond = Math.Round(acked.Count(a => a) / producing, 1),
            Latency = LatencyRecorder.Summarize([visible]),
            PutLatency = LatencyRecorder.Summarize([putStats.Latency]),
            Errors = errors.Count,
            ErrorTypes = errors.Types,
            Resources = resources,
            Note = $"{options.LatencyRate} records/s, {shardIds.Count} pollers every {options.PollInterval.TotalMilliseconds:0} ms",
        };
    }

    private static async Task<bool[]> ProduceAsync(BenchOptions options, string stream, long[] sentAt, int total, ProducerStats stats,
        CancellationToken cancellationToken)
    {
        const int templates = 64;
        var bodies = Enumerable.Range(0, templates)
            .Select(t => RequestTemplate.PutRecord(stream, options.RecordBytes, new Random(HashCode.Combine(options.Seed, t, 2))))
            .ToArray();
        var acked = new bool[total];
        using var connection = new KinesisConnection(options.Endpoint, options.Http, options.RequestTimeout);
        var start = Stopwatch.GetTimestamp();
        var interval = Stopwatch.Frequency / (double)options.LatencyRate;
        var end = start + (long)((options.Warmup + options.LatencyDuration).TotalSeconds * Stopwatch.Frequency);
        for (var i = 0; i < total && Stopwatch.GetTimestamp() < end; i++)
        {
            // A steady schedule; a put that ran late is followed at once by the next one, never by a burst.
            var due = start + (long)(i * interval);
            var wait = due - Stopwatch.GetTimestamp();
            if (wait > 0)
                await Task.Delay(TimeSpan.FromSeconds(wait / (double)Stopwatch.Frequency), cancellationToken).ConfigureAwait(false);
            var body = bodies[i % templates];
            body.SetIds(Producer, (ulong)i);
            var sent = Stopwatch.GetTimestamp();
            Volatile.Write(ref sentAt[i], sent);
            int status;
            try
            {
                status = await connection.SendAsync("PutRecord", body.Body, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (PutBatchScenario.IsTransportFailure(e, cancellationToken))
            {
                stats.Errors.Add("Transport:" + e.GetType().Name);
                continue;
            }
            if (status != 200)
            {
                stats.Errors.Add(KinesisConnection.Error(status, connection.Body.Span).Type);
                continue;
            }
            acked[i] = true;
            stats.Requests++;
            stats.Latency.Add(Stopwatch.GetTimestamp() - sent);
        }
        return acked;
    }

    private static async Task PollAsync(BenchOptions options, string iterator, long[] sentAt, long[] seenAt, ProducerStats stats, CancellationToken stop)
    {
        using var connection = new KinesisConnection(options.Endpoint, options.Http, options.RequestTimeout);
        using var timer = new PeriodicTimer(options.PollInterval);
        var state = new PollState { SentAt = sentAt, SeenAt = seenAt };
        var body = new ArrayBufferWriter<byte>(256);
        string? next = iterator;
        while (next is not null && !stop.IsCancellationRequested)
        {
            try
            {
                var started = Stopwatch.GetTimestamp();
                var status = await connection.SendAsync("GetRecords", RecordsPage.Request(body, next, 10_000), stop).ConfigureAwait(false);
                stats.Latency.Add(Stopwatch.GetTimestamp() - started);
                stats.Requests++;
                if (status == 200)
                    next = RecordsPage.Parse(connection.Body.Span, ref state, Visit).NextIterator ?? next;
                else
                    stats.Errors.Add("Poll:" + KinesisConnection.Error(status, connection.Body.Span).Type);
                if (!await timer.WaitForNextTickAsync(stop).ConfigureAwait(false))
                    break;
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (PutBatchScenario.IsTransportFailure(e, stop))
            {
                stats.Errors.Add("Poll:Transport:" + e.GetType().Name);
            }
        }
    }

    private static void Visit(ref PollState state, ReadOnlySpan<byte> idBase64, ReadOnlySpan<byte> sequenceNumber)
    {
        var now = Stopwatch.GetTimestamp();
        if (!RecordLayout.TryReadId(idBase64, out var producer, out var sequence) || producer != Producer || sequence >= (ulong)state.SeenAt.Length)
        {
            state.Unknown++;
            return;
        }
        // The first sighting counts; the arrival time is when the answer holding it was read.
        if (Volatile.Read(ref state.SeenAt[sequence]) == 0)
            Volatile.Write(ref state.SeenAt[sequence], now);
    }
}
