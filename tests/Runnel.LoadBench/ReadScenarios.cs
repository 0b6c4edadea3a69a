using System.Buffers;
using System.Diagnostics;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Runnel.LoadBench;

/// <summary>One GetRecords answer, parsed in one pass over the reused answer buffer.</summary>
internal struct RecordsPage
{
    public int Count;
    public string? NextIterator;
    public long MillisBehindLatest;

    /// <summary>
    /// Calls <paramref name="onRecord"/> with the first 16 base64 characters of each record's Data and its sequence
    /// number text; returns the page's summary.
    /// </summary>
    public static RecordsPage Parse<TState>(ReadOnlySpan<byte> body, ref TState state, RecordVisitor<TState> onRecord)
    {
        var page = new RecordsPage { MillisBehindLatest = -1 };
        var reader = new Utf8JsonReader(body);
        Span<byte> unescaped = stackalloc byte[RecordLayout.IdChars];
        Span<byte> sequence = stackalloc byte[160];
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            throw new FormatException("A GetRecords answer is not a JSON object.");
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("Records"u8))
            {
                reader.Read();
                while (reader.Read() && reader.TokenType == JsonTokenType.StartObject)
                {
                    var idLength = 0;
                    var sequenceLength = 0;
                    while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                    {
                        if (reader.ValueTextEquals("Data"u8))
                        {
                            reader.Read();
                            idLength = CopyIdPrefix(ref reader, unescaped);
                        }
                        else if (reader.ValueTextEquals("SequenceNumber"u8))
                        {
                            reader.Read();
                            sequenceLength = reader.ValueSpan.Length <= sequence.Length && !reader.ValueIsEscaped
                                ? Copy(reader.ValueSpan, sequence)
                                : 0;
                        }
                        else
                        {
                            reader.Read();
                            reader.Skip();
                        }
                    }
                    onRecord(ref state, unescaped[..idLength], sequence[..sequenceLength]);
                    page.Count++;
                }
            }
            else if (reader.ValueTextEquals("NextShardIterator"u8))
            {
                reader.Read();
                page.NextIterator = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
            }
            else if (reader.ValueTextEquals("MillisBehindLatest"u8))
            {
                reader.Read();
                page.MillisBehindLatest = reader.TokenType == JsonTokenType.Number ? reader.GetInt64() : -1;
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }
        return page;
    }

    private static int Copy(ReadOnlySpan<byte> from, Span<byte> to)
    {
        from.CopyTo(to);
        return from.Length;
    }

    /// <summary>
    /// Copies the id characters of a Data value into <paramref name="scratch"/> and returns their count (0 when absent).
    /// A JSON writer may escape '+' and '/', so an escaped value is unescaped first.
    /// </summary>
    private static int CopyIdPrefix(ref Utf8JsonReader reader, scoped Span<byte> scratch)
    {
        if (reader.TokenType != JsonTokenType.String)
            return 0;
        if (!reader.ValueIsEscaped)
        {
            if (reader.ValueSpan.Length < RecordLayout.IdChars)
                return 0;
            reader.ValueSpan[..RecordLayout.IdChars].CopyTo(scratch);
            return RecordLayout.IdChars;
        }
        var text = reader.GetString()!;
        if (text.Length < RecordLayout.IdChars)
            return 0;
        for (var i = 0; i < RecordLayout.IdChars; i++)
            scratch[i] = (byte)text[i];
        return RecordLayout.IdChars;
    }

    /// <summary>Writes a GetRecords request body into <paramref name="buffer"/> (cleared first).</summary>
    public static ReadOnlyMemory<byte> Request(ArrayBufferWriter<byte> buffer, string iterator, int limit)
    {
        buffer.ResetWrittenCount();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            writer.WriteString("ShardIterator"u8, iterator);
            writer.WriteNumber("Limit"u8, limit);
            writer.WriteEndObject();
        }
        return buffer.WrittenMemory;
    }
}

internal delegate void RecordVisitor<TState>(ref TState state, ReadOnlySpan<byte> idBase64, ReadOnlySpan<byte> sequenceNumber);

/// <summary>Reads a shard's records from TRIM_HORIZON to the tip with one reader per shard and checks them against the ledger.</summary>
public static class DrainScenario
{
    /// <summary>The most records one GetRecords may return.</summary>
    private const int MaxLimit = 10_000;

    private struct ShardCheck
    {
        public Ledger Ledger;
        public long[] LastSequenceByProducer;
        public byte[] LastSequenceNumber;
        public int LastSequenceNumberLength;
        public long Read;
        public long Duplicates;
        public long OutOfOrder;
        public long Unacknowledged;
        public long Unreadable;
    }

    public static async Task<ScenarioResult> RunAsync(BenchOptions options, string stream, IReadOnlyList<string> shardIds, Ledger ledger,
        CancellationToken cancellationToken)
    {
        var sampler = ResourceSampler.Start(options.ServerPids);
        var started = Stopwatch.GetTimestamp();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.DrainTimeout);
        var readers = shardIds.Select(id => Task.Run(() => ReadShardAsync(options, stream, id, ledger, timeout.Token), cancellationToken)).ToArray();
        string? detail = null;
        try
        {
            await Task.WhenAll(readers);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested && timeout.IsCancellationRequested)
        {
            detail = $"timed out after {options.DrainTimeout.TotalSeconds:0} s";
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            // A reader failed (an error answer or a dropped connection): the check fails and says why.
            detail = e.GetBaseException().Message;
        }
        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var resources = await sampler.StopAsync();
        var done = readers.Where(r => r.IsCompletedSuccessfully).Select(r => r.Result).ToArray();
        var stats = done.Select(d => d.Stats).ToArray();
        var checks = done.Select(d => d.Check).ToArray();
        var read = checks.Sum(c => c.Read);
        var missing = ledger.CountMissing();
        var verification = new Verification(
            Passed: detail is null && readers.All(r => r.IsCompletedSuccessfully) && missing == 0 && checks.All(c => c.Duplicates == 0 && c.OutOfOrder == 0 && c.Unreadable == 0),
            Acknowledged: ledger.AckedCount,
            Read: read,
            Duplicates: checks.Sum(c => c.Duplicates),
            Missing: missing,
            OutOfOrder: checks.Sum(c => c.OutOfOrder),
            Unacknowledged: checks.Sum(c => c.Unacknowledged),
            Unreadable: checks.Sum(c => c.Unreadable),
            Detail: detail);
        return new ScenarioResult
        {
            Name = BenchOptions.Drain,
            Seconds = Math.Round(seconds, 3),
            Requests = stats.Sum(s => s.Requests),
            Records = read,
            Bytes = read * options.RecordBytes,
            RequestsPerSecond = Math.Round(stats.Sum(s => s.Requests) / seconds, 1),
            RecordsPerSecond = Math.Round(read / seconds, 1),
            MiBPerSecond = Math.Round(read * (double)options.RecordBytes / seconds / 1048576.0, 2),
            Latency = LatencyRecorder.Summarize(stats.Select(s => s.Latency)),
            Errors = stats.Sum(s => s.Errors.Count),
            ErrorTypes = ErrorCounter.Merge(stats.Select(s => s.Errors)),
            Verification = verification,
            Resources = resources,
        };
    }

    private static async Task<(ProducerStats Stats, ShardCheck Check)> ReadShardAsync(BenchOptions options, string stream, string shardId, Ledger ledger,
        CancellationToken cancellationToken)
    {
        using var connection = new KinesisConnection(options.Endpoint, options.Http, options.RequestTimeout);
        var stats = new ProducerStats();
        var check = new ShardCheck
        {
            Ledger = ledger,
            LastSequenceByProducer = Enumerable.Repeat(-1L, ledger.Producers).ToArray(),
            LastSequenceNumber = new byte[160],
        };
        var iterator = await new StreamAdmin(connection).GetShardIteratorAsync(stream, shardId, "TRIM_HORIZON", cancellationToken).ConfigureAwait(false);
        var body = new ArrayBufferWriter<byte>(256);
        while (iterator is not null)
        {
            var started = Stopwatch.GetTimestamp();
            var status = await connection.SendAsync("GetRecords", RecordsPage.Request(body, iterator, MaxLimit), cancellationToken).ConfigureAwait(false);
            stats.Latency.Add(Stopwatch.GetTimestamp() - started);
            stats.Requests++;
            if (status != 200)
            {
                var error = KinesisConnection.Error(status, connection.Body.Span);
                stats.Errors.Add(error.Type);
                if (error.Type is "ProvisionedThroughputExceededException" or "LimitExceededException" || status >= 500)
                {
                    // Throttled or a transient fault: the iterator is still good; try again shortly.
                    await Task.Delay(200, cancellationToken).ConfigureAwait(false);
                    continue;
                }
                throw error;
            }
            var page = RecordsPage.Parse(connection.Body.Span, ref check, Visit);
            // The tip: nothing returned and nothing behind. A closed shard ends with no next iterator.
            if (page.Count == 0 && page.MillisBehindLatest <= 0)
                break;
            iterator = page.NextIterator;
        }
        return (stats, check);
    }

    private static void Visit(ref ShardCheck check, ReadOnlySpan<byte> idBase64, ReadOnlySpan<byte> sequenceNumber)
    {
        check.Read++;
        if (!RecordLayout.TryReadId(idBase64, out var producer, out var sequence) || sequenceNumber.IsEmpty)
        {
            check.Unreadable++;
            return;
        }
        // Sequence numbers are decimal strings without leading zeros: strictly increasing means longer, or as long and greater.
        var previous = check.LastSequenceNumber.AsSpan(0, check.LastSequenceNumberLength);
        if (!previous.IsEmpty && (sequenceNumber.Length < previous.Length
            || (sequenceNumber.Length == previous.Length && sequenceNumber.SequenceCompareTo(previous) <= 0)))
            check.OutOfOrder++;
        sequenceNumber.CopyTo(check.LastSequenceNumber);
        check.LastSequenceNumberLength = sequenceNumber.Length;

        if (!check.Ledger.IsAcked((int)producer, sequence))
        {
            check.Unacknowledged++;
            return;
        }
        if (!check.Ledger.MarkSeen((int)producer, sequence))
        {
            check.Duplicates++;
            return;
        }
        // A producer waits for each batch's answer before the next, so its records must appear in its order on every shard.
        if ((long)sequence <= check.LastSequenceByProducer[producer])
            check.OutOfOrder++;
        check.LastSequenceByProducer[producer] = (long)sequence;
    }
}
