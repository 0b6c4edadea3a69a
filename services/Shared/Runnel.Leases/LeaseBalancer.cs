namespace Runnel.Leases;

/// <summary>A (work item, shard) lease as the balancer sees it: which row, who holds it and until when.</summary>
public sealed record LeaseView(string Application, long StreamId, int ShardIndex, string? Owner, long Counter, DateTimeOffset? ExpiresAt)
{
    public bool IsHeldAt(DateTimeOffset now) => Owner is not null && ExpiresAt > now;
}

/// <summary>
/// What one replica does in one scan: take <see cref="Take"/> (free or expired leases) and, at most one,
/// <see cref="Steal"/> (a lease of <see cref="Victim"/>). <see cref="Target"/> is the fair share.
/// </summary>
public sealed record BalancePlan(int Workers, int Target, int Held, IReadOnlyList<LeaseView> Take, LeaseView? Steal, string? Victim);

/// <summary>
/// Fair sharing of leases between the replicas that do a kind of work, as the Kinesis Client Library's lease taker does. Every
/// replica computes the same share, <c>ceil(leases / live workers)</c>, where the live workers are those that announced
/// themselves recently plus every owner of an unexpired lease (a replica of an older version that does not announce
/// itself still counts). A replica takes free or expired leases only up to its share. When it is still below its share
/// and no lease is free, it steals one lease from the most loaded replica if that one holds more than the share, or
/// holds exactly the share while this one needs more than one (so 4 leases on 3 replicas settle at 2/1/1, not 2/2/0).
/// A steal never leaves the victim with fewer leases than the thief then holds, so replicas never steal back and forth.
/// </summary>
public static class LeaseBalancer
{
    /// <param name="leases">Leases that can be worked on now (for a shard: not finished, parents finished).</param>
    /// <param name="liveWorkers">Replicas that announced themselves within the worker expiry.</param>
    /// <param name="me">This replica's owner id.</param>
    /// <param name="now">The current time, against which lease expiries are compared.</param>
    /// <param name="balance">False: take every free lease, never steal.</param>
    /// <param name="maySteal">Whether the steal interval has passed since this replica last stole.</param>
    public static BalancePlan Plan(IReadOnlyCollection<LeaseView> leases, IEnumerable<string> liveWorkers, string me, DateTimeOffset now, bool balance, bool maySteal)
    {
        var counts = leases.Where(l => l.IsHeldAt(now)).GroupBy(l => l.Owner!).ToDictionary(g => g.Key, g => g.Count());
        var workers = new HashSet<string>(liveWorkers, StringComparer.Ordinal) { me };
        workers.UnionWith(counts.Keys);
        var held = counts.GetValueOrDefault(me);
        var free = leases.Where(l => !l.IsHeldAt(now)).ToList();
        if (!balance)
            return new BalancePlan(workers.Count, leases.Count, held, free, null, null);

        var target = (leases.Count + workers.Count - 1) / workers.Count;
        // Per application (a mapping, a delivery stream, an SQL application), what this replica holds: free leases go first
        // to the applications it holds least of, so several
        // applications spread over the replicas too, not only their total.
        var mineByMapping = leases.Where(l => l.IsHeldAt(now) && l.Owner == me).GroupBy(l => l.Application).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var take = new List<LeaseView>();
        var remaining = free.OrderBy(l => l.Application, StringComparer.Ordinal).ThenBy(l => l.ShardIndex).ToList();
        while (held + take.Count < target && remaining.Count > 0)
        {
            var next = remaining.MinBy(l => mineByMapping.GetValueOrDefault(l.Application))!;
            remaining.Remove(next);
            take.Add(next);
            mineByMapping[next.Application] = mineByMapping.GetValueOrDefault(next.Application) + 1;
        }

        var need = target - held - take.Count;
        if (need <= 0 || free.Count > 0 || !maySteal)
            return new BalancePlan(workers.Count, target, held, take, null, null);
        var victim = counts.Where(c => c.Key != me).OrderByDescending(c => c.Value).ThenBy(c => c.Key, StringComparer.Ordinal)
            .Select(c => (Owner: c.Key, Count: c.Value)).FirstOrDefault();
        if (victim.Owner is null || !(victim.Count > target || (victim.Count == target && need > 1)))
            return new BalancePlan(workers.Count, target, held, take, null, null);
        var victimByMapping = leases.Where(l => l.IsHeldAt(now) && l.Owner == victim.Owner).GroupBy(l => l.Application)
            .ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var steal = leases.Where(l => l.IsHeldAt(now) && l.Owner == victim.Owner)
            .OrderBy(l => mineByMapping.GetValueOrDefault(l.Application))
            .ThenByDescending(l => victimByMapping[l.Application])
            .ThenBy(l => l.Application, StringComparer.Ordinal)
            .ThenByDescending(l => l.ShardIndex)
            .First();
        return new BalancePlan(workers.Count, target, held, take, steal, victim.Owner);
    }
}
