using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Runnel.Core.Hashing;

namespace Runnel.Ingest.Resharding;

/// <summary>A new shard: its index, inclusive hash-key range (decimal text) and one or two parents.</summary>
public sealed record ReshardChild(int Index, string Start, string End, int Parent, int? AdjacentParent)
{
    [JsonIgnore]
    public HashKeyRange Range => new(UInt128.Parse(Start, CultureInfo.InvariantCulture), UInt128.Parse(End, CultureInfo.InvariantCulture));

    [JsonIgnore]
    public IEnumerable<int> Parents => AdjacentParent is { } a ? [Parent, a] : [Parent];
}

/// <summary>One seal-and-replace step: every parent named by a child closes, every child opens.</summary>
public sealed record ReshardRound(IReadOnlyList<ReshardChild> Children)
{
    [JsonIgnore]
    public IReadOnlyList<int> Parents => [.. Children.SelectMany(c => c.Parents).Distinct().Order()];
}

/// <summary>The whole change, as rounds that run one after the other.</summary>
public sealed record ReshardPlan(IReadOnlyList<ReshardRound> Rounds)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    [JsonIgnore]
    public int NewShardCount => Rounds.Sum(r => r.Children.Count);

    public string Serialize() => JsonSerializer.Serialize(this, Json);

    public static ReshardPlan Deserialize(string text) =>
        JsonSerializer.Deserialize<ReshardPlan>(text, Json) ?? throw new InvalidOperationException("Empty reshard plan.");
}

/// <summary>An open shard as the planner sees it.</summary>
public readonly record struct OpenShard(int Index, HashKeyRange Range);

/// <summary>
/// Works out rounds of splits and merges. A child never has more than two parents (Kinesis lineage has
/// ParentShardId and AdjacentParentShardId), which is why a uniform rescale may take several rounds and
/// pass through intermediate shards, as the managed service's UpdateShardCount does.
/// </summary>
public static class ReshardPlanner
{
    private static string Text(UInt128 value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>Open shards once the plan has run: each round closes its parents and opens its children.</summary>
    public static int OpenCountAfter(ReshardPlan plan, int openBefore) =>
        openBefore + plan.Rounds.Sum(r => r.Children.Count - r.Parents.Count);

    public static ReshardPlan Split(OpenShard parent, UInt128 newStartingHashKey, int firstIndex) =>
        new([new ReshardRound(
        [
            new ReshardChild(firstIndex, Text(parent.Range.Start), Text(newStartingHashKey - 1), parent.Index, null),
            new ReshardChild(firstIndex + 1, Text(newStartingHashKey), Text(parent.Range.End), parent.Index, null),
        ])]);

    public static ReshardPlan Merge(OpenShard shard, OpenShard adjacent, int index)
    {
        var start = UInt128.Min(shard.Range.Start, adjacent.Range.Start);
        var end = UInt128.Max(shard.Range.End, adjacent.Range.End);
        return new([new ReshardRound([new ReshardChild(index, Text(start), Text(end), shard.Index, adjacent.Index)])]);
    }

    /// <summary>
    /// Rescales the open shards (which partition the key space) to <paramref name="target"/> equal ranges.
    /// Round one splits every shard at each target boundary inside it; later rounds merge neighbouring pieces
    /// of one target range pairwise until each target range is a single shard. Empty when nothing changes.
    /// </summary>
    public static ReshardPlan Uniform(IReadOnlyList<OpenShard> open, int target, int firstIndex)
    {
        var targets = HashKeyRange.EvenSplit(target);
        var next = firstIndex;
        var rounds = new List<ReshardRound>();
        var current = new List<OpenShard>();
        var splits = new List<ReshardChild>();
        foreach (var shard in open.OrderBy(s => s.Range.Start))
        {
            var cuts = targets.Select(t => t.Start).Where(b => b > shard.Range.Start && b <= shard.Range.End).ToList();
            if (cuts.Count == 0)
            {
                current.Add(shard);
                continue;
            }
            // Cuts lie strictly above the shard's start, so every piece is non-empty.
            var start = shard.Range.Start;
            foreach (var cut in cuts)
            {
                AddPiece(start, cut - 1);
                start = cut;
            }
            AddPiece(start, shard.Range.End);

            void AddPiece(UInt128 from, UInt128 to)
            {
                var child = new ReshardChild(next++, Text(from), Text(to), shard.Index, null);
                splits.Add(child);
                current.Add(new OpenShard(child.Index, child.Range));
            }
        }
        if (splits.Count > 0)
            rounds.Add(new ReshardRound(splits));

        while (true)
        {
            var merges = new List<ReshardChild>();
            var after = new List<OpenShard>();
            foreach (var range in targets)
            {
                var parts = current.Where(s => s.Range.Start >= range.Start && s.Range.End <= range.End).OrderBy(s => s.Range.Start).ToList();
                for (var i = 0; i < parts.Count; i += 2)
                {
                    if (i + 1 == parts.Count)
                    {
                        after.Add(parts[i]);
                        continue;
                    }
                    var child = new ReshardChild(next++, Text(parts[i].Range.Start), Text(parts[i + 1].Range.End), parts[i].Index, parts[i + 1].Index);
                    merges.Add(child);
                    after.Add(new OpenShard(child.Index, child.Range));
                }
            }
            if (merges.Count == 0)
                break;
            rounds.Add(new ReshardRound(merges));
            current = after;
        }
        return new ReshardPlan(rounds);
    }
}
