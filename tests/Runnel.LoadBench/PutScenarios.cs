using System.Diagnostics;
using System.Net.Sockets;
using System.Text.Json;

namespace Runnel.LoadBench;

/// <summary>
/// The measuring window of a closed-loop scenario: load starts at once and no request starts after the end.
/// Requests that complete after the warm-up are counted, including those still in flight at the end, and the
/// measured time runs from the warm-up's end to the last counted completion. So a server slower than the window
/// (a request taking seconds) still gets a figure, and a fast one is measured over the nominal duration.
/// </summary>
public sealed class Window
{
    private long _lastCompletion;

    public Window(TimeSpan warmup, TimeSpan duration)
    {
        var now = Stopwatch.GetTimestamp();
        MeasureFrom = now + (long)(warmup.TotalSeconds * Stopwatch.Frequency);
        End = now + (long)((warmup + duration).TotalSeconds * Stopwatch.Frequency);
    }

    public long MeasureFrom { get; }

    public long End { get; }

    public bool IsOver => Stopwatch.GetTimestamp() >= End;

    public double MeasuredSeconds
    {
        get
        {
            var last = Interlocked.Read(ref _lastCompletion);
            return last > MeasureFrom ? (last - MeasureFrom) / (double)Stopwatch.Frequency : 0;
        }
    }

    public bool Counts(long completedAt)
    {
        if (completedAt < MeasureFrom)
            return false;
        var seen = Interlocked.Read(ref _lastCompletion);
        while (completedAt > seen)
        {
            var previous = Interlocked.CompareExchange(ref _lastCompletion, completedAt, seen);
            if (previous == seen)
                break;
            seen = previous;
        }
        return true;
    }
}

/// <summary>Counts of one producer task.</summary>
internal sealed class ProducerStats
{
    public readonly LatencyRecorder Latency = new();
    public readonly ErrorCounter Errors = new();
    public long Requests;
    public long Records;
    public long Bytes;
    public long FailedRecords;
}

/// <summary>
/// Batches from concurrent clients in a closed loop: Kinesis PutRecords into a stream, or Firehose PutRecordBatch into a
/// Direct PUT delivery stream. Every acknowledged record goes into the ledger.
/// </summary>
public static class PutBatchScenario
{
    /// <summary>Distinct bodies per client, cycled so that the partition keys of consecutive requests differ.</summary>
    private const int TemplatesPerClient = 4;

    /// <summary>One batch API: its operation, service, where its answer lists the records, and its request body.</summary>
    private sealed record BatchApi(string Scenario, string Operation, string TargetPrefix, string ResultsMember,
        Func<string, int, int, Random, RequestTemplate> Template);

    private static readonly BatchApi PutRecords = new(BenchOptions.PutBatch, "PutRecords", KinesisConnection.KinesisPrefix, "Records", RequestTemplate.PutRecords);

    private static readonly BatchApi PutRecordBatch = new(BenchOptions.FirehoseBatch, "PutRecordBatch", KinesisConnection.FirehosePrefix, "RequestResponses",
        RequestTemplate.PutRecordBatch);

    public static Task<ScenarioResult> RunAsync(BenchOptions options, string stream, Ledger ledger, CancellationToken cancellationToken) =>
        RunAsync(PutRecords, options, stream, ledger, cancellationToken);

    /// <summary>PutRecordBatch into the Direct PUT delivery stream <paramref name="deliveryStream"/>.</summary>
    public static Task<ScenarioResult> RunFirehoseAsync(BenchOptions options, string deliveryStream, Ledger ledger, CancellationToken cancellationToken) =>
        RunAsync(PutRecordBatch, options, deliveryStream, ledger, cancellationToken);

    private static async Task<ScenarioResult> RunAsync(BatchApi api, BenchOptions options, string stream, Ledger ledger, CancellationToken cancellationToken)
    {
        var stats = Enumerable.Range(0, options.Clients).Select(_ => new ProducerStats()).ToArray();
        var templates = Enumerable.Range(0, options.Clients)
            .Select(c => Enumerable.Range(0, TemplatesPerClient)
                .Select(t => api.Template(stream, options.BatchSize, options.RecordBytes, new Random(HashCode.Combine(options.Seed, c, t))))
                .ToArray())
            .ToArray();
        var sampler = ResourceSampler.Start(options.ServerPids);
        var window = new Window(options.Warmup, options.Duration);
        await Task.WhenAll(Enumerable.Range(0, options.Clients)
            .Select(c => Task.Run(() => ProduceAsync(api, options, c, templates[c], window, ledger, stats[c], cancellationToken), cancellationToken)));
        var resources = await sampler.StopAsync();
        ledger.Seal();
        return Summarize(api.Scenario, window, stats, resources);
    }

    private static async Task ProduceAsync(BatchApi api, BenchOptions options, int client, RequestTemplate[] templates, Window window, Ledger ledger,
        ProducerStats stats, CancellationToken cancellationToken)
    {
        using var connection = new KinesisConnection(options.Endpoint, options.Http, options.RequestTimeout, targetPrefix: api.TargetPrefix);
        var failed = new List<(int Index, string Code)>();
        ulong sequence = 0;
        // Under a rate cap each client sends on its own fixed schedule (start times, not gaps, so slow answers are
        // caught up on instead of lowering the rate).
        var interval = options.MaxRecordsPerSecond > 0
            ? TimeSpan.FromSeconds((double)options.Clients * options.BatchSize / options.MaxRecordsPerSecond)
            : TimeSpan.Zero;
        // Clients start a fraction of the interval apart, so the capped load arrives evenly, not in bursts of all clients.
        var next = Stopwatch.GetTimestamp() + (long)(interval.TotalSeconds * Stopwatch.Frequency * client / options.Clients);
        for (var i = 0; !window.IsOver; i++)
        {
            if (interval > TimeSpan.Zero)
            {
                var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), next);
                if (wait > TimeSpan.Zero)
                    await Task.Delay(wait, cancellationToken).ConfigureAwait(false);
                next += (long)(interval.TotalSeconds * Stopwatch.Frequency);
            }
            var template = templates[i % templates.Length];
            template.SetIds((uint)client, sequence);
            var first = sequence;
            sequence += (ulong)template.RecordCount;
            var started = Stopwatch.GetTimestamp();
            int status;
            try
            {
                status = await connection.SendAsync(api.Operation, template.Body, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (IsTransportFailure(e, cancellationToken))
            {
                stats.Errors.Add("Transport:" + e.GetType().Name);
                await Task.Delay(100, cancellationToken).ConfigureAwait(false);
                continue;
            }
            var completed = Stopwatch.GetTimestamp();
            var counts = window.Counts(completed);
            if (status != 200)
            {
                stats.Errors.Add(KinesisConnection.Error(status, connection.Body.Span).Type);
                continue;
            }
            failed.Clear();
            ReadFailures(connection.Body.Span, api.ResultsMember, failed);
            var f = 0;
            for (var r = 0; r < template.RecordCount; r++)
            {
                if (f < failed.Count && failed[f].Index == r)
                {
                    f++;
                    continue;
                }
                ledger.MarkAcked(client, first + (ulong)r);
            }
            if (!counts)
                continue;
            stats.Requests++;
            stats.Records += template.RecordCount - failed.Count;
            stats.Bytes += (long)(template.RecordCount - failed.Count) * options.RecordBytes;
            stats.FailedRecords += failed.Count;
            foreach (var (_, code) in failed)
                stats.Errors.Add("Record:" + code);
            stats.Latency.Add(completed - started);
        }
    }

    /// <summary>The positions and codes of the records a batch answer marks failed (in its <paramref name="member"/> list), in order.</summary>
    internal static void ReadFailures(ReadOnlySpan<byte> body, string member, List<(int, string)> failed)
    {
        var reader = new Utf8JsonReader(body);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            throw new FormatException("A batch answer is not a JSON object.");
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (!reader.ValueTextEquals(member))
            {
                reader.Read();
                reader.Skip();
                continue;
            }
            reader.Read();
            var index = 0;
            while (reader.Read() && reader.TokenType == JsonTokenType.StartObject)
            {
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    var isCode = reader.ValueTextEquals("ErrorCode"u8);
                    reader.Read();
                    if (isCode && reader.TokenType == JsonTokenType.String)
                        failed.Add((index, reader.GetString()!));
                    else
                        reader.Skip();
                }
                index++;
            }
        }
    }

    internal static bool IsTransportFailure(Exception e, CancellationToken cancellationToken) =>
        e is HttpRequestException or IOException or SocketException
        || (e is TaskCanceledException && !cancellationToken.IsCancellationRequested);

    internal static ScenarioResult Summarize(string name, Window window, IReadOnlyList<ProducerStats> stats, ResourceUsage resources, string? note = null)
    {
        // No request completed after the warm-up (a server far slower than the window): no rate, not a zero.
        var seconds = Math.Max(window.MeasuredSeconds, 1e-9);
        var requests = stats.Sum(s => s.Requests);
        var records = stats.Sum(s => s.Records);
        var bytes = stats.Sum(s => s.Bytes);
        return new ScenarioResult
        {
            Name = name,
            Seconds = Math.Round(window.MeasuredSeconds, 3),
            Requests = requests,
            Records = records,
            Bytes = bytes,
            RequestsPerSecond = Math.Round(requests / seconds, 1),
            RecordsPerSecond = Math.Round(records / seconds, 1),
            MiBPerSecond = Math.Round(bytes / seconds / 1048576.0, 2),
            Latency = LatencyRecorder.Summarize(stats.Select(s => s.Latency)),
            Errors = stats.Sum(s => s.Errors.Count),
            ErrorTypes = ErrorCounter.Merge(stats.Select(s => s.Errors)),
            FailedRecords = stats.Sum(s => s.FailedRecords),
            Resources = resources,
            Note = note,
        };
    }
}

/// <summary>Single-record PutRecord calls from concurrent clients in a closed loop.</summary>
public static class PutSingleScenario
{
    /// <summary>Distinct bodies (keys) per client, cycled so that consecutive calls go to different shards.</summary>
    private const int TemplatesPerClient = 64;

    public static async Task<ScenarioResult> RunAsync(BenchOptions options, string stream, CancellationToken cancellationToken)
    {
        var stats = Enumerable.Range(0, options.Clients).Select(_ => new ProducerStats()).ToArray();
        var templates = Enumerable.Range(0, options.Clients)
            .Select(c => Enumerable.Range(0, TemplatesPerClient)
                .Select(t => RequestTemplate.PutRecord(stream, options.RecordBytes, new Random(HashCode.Combine(options.Seed, c, t, 1))))
                .ToArray())
            .ToArray();
        // Over cleartext HTTP/1.1 each client is a thread of its own blocking in its socket calls: the cheapest closed
        // loop there is, so the load generator takes as little as it can of the cores it shares with the server.
        var blocking = KinesisConnection.CanBlock(options.Endpoint, options.Http);
        var sampler = ResourceSampler.Start(options.ServerPids);
        var window = new Window(options.Warmup, options.Duration);
        await Task.WhenAll(Enumerable.Range(0, options.Clients).Select(c =>
        {
            Task Produce() => ProduceAsync(options, c, templates[c], window, stats[c], blocking, cancellationToken);
            return blocking ? OnOwnThread(Produce) : Task.Run(Produce, cancellationToken);
        }));
        var resources = await sampler.StopAsync();
        return PutBatchScenario.Summarize(BenchOptions.PutSingle, window, stats, resources);
    }

    private static Task OnOwnThread(Func<Task> body)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        new Thread(() =>
        {
            try
            {
                body().GetAwaiter().GetResult();
                done.SetResult();
            }
            catch (Exception e)
            {
                done.SetException(e);
            }
        }) { IsBackground = true, Name = "put-single-client" }.Start();
        return done.Task;
    }

    private static async Task ProduceAsync(BenchOptions options, int client, RequestTemplate[] templates, Window window,
        ProducerStats stats, bool blocking, CancellationToken cancellationToken)
    {
        using var connection = new KinesisConnection(options.Endpoint, options.Http, options.RequestTimeout, blocking);
        ulong sequence = 0;
        for (var i = 0; !window.IsOver; i++)
        {
            var template = templates[i % templates.Length];
            template.SetIds((uint)client, sequence++);
            var started = Stopwatch.GetTimestamp();
            int status;
            try
            {
                status = await connection.SendAsync("PutRecord", template.Body, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (PutBatchScenario.IsTransportFailure(e, cancellationToken))
            {
                stats.Errors.Add("Transport:" + e.GetType().Name);
                if (blocking)
                    Thread.Sleep(100);
                else
                    await Task.Delay(100, cancellationToken).ConfigureAwait(false);
                continue;
            }
            var completed = Stopwatch.GetTimestamp();
            if (status != 200)
            {
                stats.Errors.Add(KinesisConnection.Error(status, connection.Body.Span).Type);
                continue;
            }
            if (!window.Counts(completed))
                continue;
            stats.Requests++;
            stats.Records++;
            stats.Bytes += options.RecordBytes;
            stats.Latency.Add(completed - started);
        }
    }
}
