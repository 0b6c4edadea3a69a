using System.Diagnostics;
using System.Text.Json;

namespace Runnel.LoadBench;

/// <summary>The few control-plane calls the benchmark needs, in their oldest forms so that every peer has them.</summary>
public sealed class StreamAdmin(KinesisConnection connection)
{
    /// <summary>Creates a stream and waits until it is ACTIVE; returns its shard ids in order.</summary>
    public async Task<IReadOnlyList<string>> CreateAsync(string name, int shards, CancellationToken cancellationToken)
    {
        await connection.CallAsync("CreateStream", $$"""{"StreamName":"{{name}}","ShardCount":{{shards}}}""", cancellationToken).ConfigureAwait(false);
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var (status, ids) = await DescribeAsync(name, cancellationToken).ConfigureAwait(false);
            if (status == "ACTIVE" && ids.Count == shards)
                return ids;
            if (deadline.Elapsed > TimeSpan.FromSeconds(60))
                throw new TimeoutException($"Stream {name} was not ACTIVE with {shards} shards after 60 s (status {status}, {ids.Count} shards).");
            await Task.Delay(50, cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task<(string Status, IReadOnlyList<string> ShardIds)> DescribeAsync(string name, CancellationToken cancellationToken)
    {
        var body = await connection.CallAsync("DescribeStream", $$"""{"StreamName":"{{name}}"}""", cancellationToken).ConfigureAwait(false);
        using var doc = JsonDocument.Parse(body);
        var description = doc.RootElement.GetProperty("StreamDescription");
        var ids = new List<string>();
        if (description.TryGetProperty("Shards", out var shards))
            foreach (var shard in shards.EnumerateArray())
                ids.Add(shard.GetProperty("ShardId").GetString()!);
        return (description.GetProperty("StreamStatus").GetString()!, ids);
    }

    public async Task DeleteAsync(string name, CancellationToken cancellationToken)
    {
        try
        {
            await connection.CallAsync("DeleteStream", $$"""{"StreamName":"{{name}}"}""", cancellationToken).ConfigureAwait(false);
        }
        catch (KinesisErrorException e) when (e.Type == "ResourceNotFoundException")
        {
        }
    }

    public async Task<string> GetShardIteratorAsync(string stream, string shardId, string type, CancellationToken cancellationToken)
    {
        var body = await connection.CallAsync("GetShardIterator",
            $$"""{"StreamName":"{{stream}}","ShardId":"{{shardId}}","ShardIteratorType":"{{type}}"}""", cancellationToken).ConfigureAwait(false);
        using var doc = JsonDocument.Parse(body);
        return doc.RootElement.GetProperty("ShardIterator").GetString()!;
    }
}
