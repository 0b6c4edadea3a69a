using Runnel.Leases;

namespace Runnel.FanOut.Mappings.Tests;

/// <summary>The fair-share arithmetic of <see cref="LeaseBalancer"/>, case by case.</summary>
public sealed class LeaseBalancerTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 26, 0, 0, 0, TimeSpan.Zero);

    private static List<LeaseView> Leases(params string?[] owners) =>
        [.. owners.Select((o, i) => new LeaseView("esm:m", 1, i, o, 5, o is null ? null : Now.AddSeconds(5)))];

    [Fact]
    public void A_replica_takes_free_leases_only_up_to_its_share()
    {
        var plan = LeaseBalancer.Plan(Leases(null, null, null, null, null, null), ["a", "b", "c"], "a", Now, balance: true, maySteal: true);
        Assert.Equal(3, plan.Workers);
        Assert.Equal(2, plan.Target);
        Assert.Equal([0, 1], plan.Take.Select(l => l.ShardIndex));
        Assert.Null(plan.Steal);
    }

    [Fact]
    public void Expired_leases_are_free_and_owners_of_unexpired_ones_count_as_replicas()
    {
        var leases = Leases("old", "old", null, null);
        leases[0] = leases[0] with { ExpiresAt = Now.AddSeconds(-1) };
        // "old" does not announce itself but holds a live lease: two replicas, share 2.
        var plan = LeaseBalancer.Plan(leases, [], "a", Now, balance: true, maySteal: true);
        Assert.Equal(2, plan.Workers);
        Assert.Equal([0, 2], plan.Take.Select(l => l.ShardIndex));
    }

    [Fact]
    public void A_replica_below_its_share_steals_one_lease_from_the_most_loaded()
    {
        var plan = LeaseBalancer.Plan(Leases("a", "a", "a", "b", "b", "b"), ["a", "b", "c"], "c", Now, balance: true, maySteal: true);
        Assert.Empty(plan.Take);
        Assert.Equal("a", plan.Victim);
        Assert.Equal("a", plan.Steal!.Owner);
        Assert.Null(LeaseBalancer.Plan(Leases("a", "a", "a", "b", "b", "b"), ["a", "b", "c"], "c", Now, balance: true, maySteal: false).Steal);
    }

    [Fact]
    public void Shares_settle_without_stealing_back_and_forth()
    {
        // 4 leases on 3 replicas: 2/1/1 is settled, nobody steals.
        var settled = Leases("a", "a", "b", "c");
        foreach (var me in new[] { "a", "b", "c" })
            Assert.Null(LeaseBalancer.Plan(settled, ["a", "b", "c"], me, Now, balance: true, maySteal: true).Steal);
        // 2/2/0: the empty one needs 2 and the most loaded holds exactly the share: it steals one.
        Assert.NotNull(LeaseBalancer.Plan(Leases("a", "a", "b", "b"), ["a", "b", "c"], "c", Now, balance: true, maySteal: true).Steal);
        // 7 on 3 at 3/2/2 is settled too.
        var seven = Leases("a", "a", "a", "b", "b", "c", "c");
        foreach (var me in new[] { "a", "b", "c" })
            Assert.Null(LeaseBalancer.Plan(seven, ["a", "b", "c"], me, Now, balance: true, maySteal: true).Steal);
    }

    [Fact]
    public void Nothing_is_stolen_while_a_lease_is_free()
    {
        var plan = LeaseBalancer.Plan(Leases("a", "a", "a", null), ["a", "b"], "b", Now, balance: true, maySteal: true);
        Assert.Equal([3], plan.Take.Select(l => l.ShardIndex));
        Assert.Null(plan.Steal);
    }

    [Fact]
    public void Free_leases_spread_over_mappings()
    {
        List<LeaseView> leases =
        [
            new("esm:m1", 1, 0, null, 1, null), new("esm:m1", 1, 1, null, 1, null),
            new("esm:m2", 2, 0, null, 1, null), new("esm:m2", 2, 1, null, 1, null),
        ];
        var plan = LeaseBalancer.Plan(leases, ["a", "b"], "a", Now, balance: true, maySteal: true);
        Assert.Equal(["esm:m1", "esm:m2"], plan.Take.Select(l => l.Application).Order());
    }

    [Fact]
    public void Without_balancing_every_free_lease_is_taken()
    {
        var plan = LeaseBalancer.Plan(Leases(null, null, null, "b"), ["a", "b"], "a", Now, balance: false, maySteal: true);
        Assert.Equal([0, 1, 2], plan.Take.Select(l => l.ShardIndex));
        Assert.Null(plan.Steal);
    }
}
