using Runnel.Core.Hashing;
using Runnel.Core.Storage;

namespace Runnel.Ingest.Streams;

/// <summary>A shard as the data plane needs it: where its log lives and which keys it owns.</summary>
public sealed record ShardRoute(
    int Index,
    HashKeyRange Range,
    int? ParentIndex,
    int? AdjacentParentIndex,
    string NodeId,
    long Epoch,
    bool IsOpen);

/// <summary>
/// An immutable snapshot of one stream's routing table: the open shards sorted by the start of their
/// hash-key range (they partition the whole key space), and every shard by index for reads.
/// </summary>
public sealed class StreamRoute
{
    private readonly ShardRoute[] _open;
    private readonly Dictionary<int, ShardRoute> _byIndex;

    public StreamRoute(long streamId, string name, string status, int maxRecordSizeBytes, IEnumerable<ShardRoute> shards, long loadedAtTicks, string encryptionType = "NONE")
    {
        EncryptionType = encryptionType;
        StreamId = streamId;
        Name = name;
        Status = status;
        MaxRecordSizeBytes = maxRecordSizeBytes;
        LoadedAtTicks = loadedAtTicks;
        _byIndex = shards.ToDictionary(s => s.Index);
        _open = [.. _byIndex.Values.Where(s => s.IsOpen).OrderBy(s => s.Range.Start)];
    }

    public long StreamId { get; }
    public string Name { get; }
    public string Status { get; }
    public int MaxRecordSizeBytes { get; }

    /// <summary>KMS when the stream is encrypted at rest, else NONE; PutRecord(s) and GetRecords answer it.</summary>
    public string EncryptionType { get; }
    /// <summary>Environment.TickCount64 when the snapshot was read from the catalog.</summary>
    public long LoadedAtTicks { get; }

    public IReadOnlyList<ShardRoute> OpenShards => _open;

    public IEnumerable<ShardRoute> AllShards => _byIndex.Values;

    public ShardRef RefOf(ShardRoute shard) => new(StreamId, shard.Index);

    public ShardRoute? Shard(int index) => _byIndex.GetValueOrDefault(index);

    /// <summary>The open shard whose range contains the key (binary search over the sorted ranges).</summary>
    public ShardRoute? Route(UInt128 hashKey)
    {
        int lo = 0, hi = _open.Length - 1;
        while (lo <= hi)
        {
            var mid = (lo + hi) >>> 1;
            var shard = _open[mid];
            if (hashKey < shard.Range.Start)
                hi = mid - 1;
            else if (hashKey > shard.Range.End)
                lo = mid + 1;
            else
                return shard;
        }
        return null;
    }

    public IEnumerable<ShardRoute> ChildrenOf(int index) =>
        _byIndex.Values.Where(s => s.ParentIndex == index || s.AdjacentParentIndex == index).OrderBy(s => s.Index);
}
