using System.Globalization;
using Runnel.Metadata.Entities;

namespace Runnel.Leases;

/// <summary>
/// Per-shard leases of work that reads a stream in order (event source mappings, delivery streams): a lease row per
/// shard that records the shard's parents, and a child is worked on only after its parents were finished, which keeps
/// each partition key's records in order across a resharding.
/// </summary>
public static class ShardLeases
{
    /// <summary>The parents of <paramref name="shard"/> as a lease row records them ("3" or "3,4"); null for an original shard.</summary>
    public static string? ParentsOf(ShardEntity shard)
    {
        var parents = new[] { shard.ParentShardIndex, shard.AdjacentParentShardIndex }.Where(p => p.HasValue)
            .Select(p => p!.Value.ToString(CultureInfo.InvariantCulture));
        return string.Join(',', parents) is { Length: > 0 } text ? text : null;
    }

    /// <summary>
    /// The leases of one work item that can be worked on now: not finished (their checkpoint is not
    /// <paramref name="finishedCheckpoint"/>) and with every parent that still has a row finished. A parent without a
    /// row has expired from the stream and has nothing left to read.
    /// </summary>
    public static IEnumerable<LeaseView> Workable(IReadOnlyCollection<LeaseEntity> rows, string finishedCheckpoint)
    {
        var finished = rows.Where(l => l.Checkpoint == finishedCheckpoint).Select(l => l.ShardIndex).ToHashSet();
        var known = rows.Select(l => l.ShardIndex).ToHashSet();
        foreach (var lease in rows)
        {
            if (lease.Checkpoint == finishedCheckpoint)
                continue;
            var parents = (lease.ParentShardIndexes ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries)
                .Select(p => int.Parse(p, CultureInfo.InvariantCulture));
            if (parents.Any(p => known.Contains(p) && !finished.Contains(p)))
                continue;
            yield return new LeaseView(lease.ApplicationName, lease.StreamId, lease.ShardIndex, lease.LeaseOwner, lease.LeaseCounter, lease.LeaseExpiresAt);
        }
    }
}
