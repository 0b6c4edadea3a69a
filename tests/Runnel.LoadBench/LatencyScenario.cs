using System.Buffers;
using System.Diagnostics;

namespace Runnel.LoadBench;

/// <summary>
/// Put-to-visible latency: single records are put on a fixed schedule while one poller per shard calls GetRecords
/// every poll interval (from LATEST, positioned before the first put). A record's latency runs from the start of
/// its PutRecord call to the moment a poller's answer holding it arrived, so it includes the put itself, the wait
/// for the next poll and the GetRecords call. The schedule is open-loop: record i is due at i / rate, and the records
/// are spread over several connections (record i on connection i mod n), so a slow put delays only its connection's
/// next records. Records sent during the warm-up are not counted.
/// </summary>
public static class LatencyScenario
{
    private const uint Producer = 0x4C41_5400;
    /// <summary>Connections the schedule is spread over: at 100 records/s each has 80 ms per put before it falls behind.</summary>
    private const int Connections = 8;
    /// <summary>How long the pollers keep looking for records after the last put.</summary>
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(2);

    private struct PollState
    {
        public long[] SeenAt;
    }

    public static async Task<ScenarioResult> RunAsync(BenchOptions options, string stream, IReadOnlyList<string> shardIds, CancellationToken cancellationToken)
    {
        var total = (int)Math.Ceiling((options.Warmup + options.LatencyDuration).TotalSeconds * options.LatencyRate);
        var sentAt = new long[total];
        var seenAt = new long[total];
        var acked = new bool[total];
        var putStats = Enumerable.Range(0, Connections).Select(_ => new ProducerStats()).ToArray();
        var pollStats = shardIds.Select(_ => new ProducerStats()).ToArray();

        // Every poller holds a LATEST iterator before the first put, so no record can slip past them.
        var iterators = new string[shardIds.Count];
        using (var admin = new KinesisConnection(options.Endpoint, options.Http, options.RequestTimeout))
            for (var i = 0; i < shardIds.Count; i++)
                iterators[i] = await new StreamAdmin(admin).GetShardIteratorAsync(stream, shardIds[i], "LATEST", cancellationToken);

        var sampler = ResourceSampler.Start(options.ServerPids);
        using var stopPolling = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var pollers = Enumerable.Range(0, shardIds.Count)
            .Select(i => Task.Run(() => PollAsync(options, iterators[i], seenAt, pollStats[i], stopPolling.Token), cancellationToken))
            .ToArray();
        var start = Stopwatch.GetTimestamp();
        var measureFrom = start + (long)(options.Warmup.TotalSeconds * Stopwatch.Frequency);
        var end = start + (long)((options.Warmup + options.LatencyDuration).TotalSeconds * Stopwatch.Frequency);
        await Task.WhenAll(Enumerable.Range(0, Connections).Select(c =>
            Task.Run(() => ProduceAsync(options, stream, c, start, end, sentAt, acked, putStats[c], cancellationToken), cancellationToken)));
        var producing = Stopwatch.GetElapsedTime(start).TotalSeconds;

        // Wait until every acknowledged record was seen, or the grace period ran out.
        var deadline = Stopwatch.GetTimestamp() + (long)(Grace.TotalSeconds * Stopwatch.Frequency);
        while (Stopwatch.GetTimestamp() < deadline && Enumerable.Range(0, total).Any(i => acked[i] && Volatile.Read(ref seenAt[i]) == 0))
            await Task.Delay(10, cancellationToken);
        await stopPolling.CancelAsync();
        await Task.WhenAll(pollers);
        var seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        var resources = await sampler.StopAsync();

        var visible = new LatencyRecorder();
        long missing = 0;
        for (var i = 0; i < total; i++)
        {
            if (!acked[i] || sentAt[i] < measureFrom)
                continue;
            if (seenAt[i] == 0)
                missing++;
            else
                visible.Add(seenAt[i] - sentAt[i]);
        }
        var errors = new ErrorCounter();
        foreach (var (type, n) in ErrorCounter.Merge(pollStats.Select(p => p.Errors).Concat(putStats.Select(p => p.Errors))))
            errors.Add(type, n);
        if (missing > 0)
            errors.Add("NotSeen", missing);
        var puts = putStats.Sum(p => p.Requests);
        return new ScenarioResult
        {
            Name = BenchOptions.Latency,
            Seconds = Math.Round(seconds, 3),
            Requests = puts,
            Records = visible.Count,
            Bytes = (long)visible.Count * options.RecordBytes,
            RequestsPerSecond = Math.Round(puts / producing, 1),
            // The rate achieved: a server slower than the schedule gets fewer records, not a longer run.
            RecordsPerSecond = Math.Round(acked.Count(a => a) / producing, 1),
            Latency = LatencyRecorder.Summarize([visible]),
            PutLatency = LatencyRecorder.Summarize(putStats.Select(p => p.Latency)),
            Errors = errors.Count,
            ErrorTypes = errors.Types,
            Resources = resources,
            Note = $"{options.LatencyRate} records/s scheduled, {shardIds.Count} pollers every {options.PollInterval.TotalMilliseconds:0} ms",
        };
    }

    private static async Task ProduceAsync(BenchOptions options, string stream, int connectionIndex, long start, long end, long[] sentAt, bool[] acked,
        ProducerStats stats, CancellationToken cancellationToken)
    {
        const int templates = 16;
        var bodies = Enumerable.Range(0, templates)
            .Select(t => RequestTemplate.PutRecord(stream, options.RecordBytes, new Random(HashCode.Combine(options.Seed, connectionIndex, t, 2))))
            .ToArray();
        using var connection = new KinesisConnection(options.Endpoint, options.Http, options.RequestTimeout);
        var interval = Stopwatch.Frequency / (double)options.LatencyRate;
        for (var i = connectionIndex; i < sentAt.Length; i += Connections)
        {
            // A record that fell behind its due time (a slow put before it) goes at once; there is no catch-up burst.
            var due = start + (long)(i * interval);
            if (due >= end)
                break;
            var wait = due - Stopwatch.GetTimestamp();
            if (wait > 0)
                await Task.Delay(TimeSpan.FromSeconds(wait / (double)Stopwatch.Frequency), cancellationToken).ConfigureAwait(false);
            else if (Stopwatch.GetTimestamp() >= end)
                break;
            var body = bodies[(i / Connections) % templates];
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
    }

    private static async Task PollAsync(BenchOptions options, string iterator, long[] seenAt, ProducerStats stats, CancellationToken stop)
    {
        using var connection = new KinesisConnection(options.Endpoint, options.Http, options.RequestTimeout);
        using var timer = new PeriodicTimer(options.PollInterval);
        var state = new PollState { SeenAt = seenAt };
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
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (PutBatchScenario.IsTransportFailure(e, stop))
            {
                stats.Errors.Add("Poll:Transport:" + e.GetType().Name);
            }
            try
            {
                if (!await timer.WaitForNextTickAsync(stop).ConfigureAwait(false))
                    break;
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    private static void Visit(ref PollState state, ReadOnlySpan<byte> idBase64, ReadOnlySpan<byte> sequenceNumber)
    {
        var now = Stopwatch.GetTimestamp();
        if (!RecordLayout.TryReadId(idBase64, out var producer, out var sequence) || producer != Producer || sequence >= (ulong)state.SeenAt.Length)
            return;
        // The first sighting counts; the arrival time is when the answer holding it was read.
        if (Volatile.Read(ref state.SeenAt[sequence]) == 0)
            Volatile.Write(ref state.SeenAt[sequence], now);
    }
}
