using Runnel.Core.Streams;

namespace Runnel.Firehose.Delivery;

/// <summary>
/// Delivery progress on one source shard, kept as the lease row's checkpoint text.
/// <list type="bullet">
/// <item><c>null</c>: nothing delivered; start at the oldest retained record.</item>
/// <item><c>SEQ</c>: every record up to and including sequence number SEQ is in a delivered object.</item>
/// <item><c>SEQ|FIRST..LAST</c> (SEQ may be empty): as before, and the object holding exactly FIRST..LAST may or may
/// not have been written. Whoever holds the lease next writes that object again, under the same key, before anything
/// else.</item>
/// <item><c>SHARD_END</c>: the shard is sealed and every record of it was delivered.</item>
/// </list>
/// </summary>
public readonly record struct DeliveryCheckpoint(ulong NextOrdinal, (ulong First, ulong Last)? Pending, bool Finished)
{
    public const string ShardEnd = "SHARD_END";

    public static DeliveryCheckpoint Parse(string? text, int shardIndex)
    {
        if (text is null)
            return new(0, null, false);
        if (text == ShardEnd)
            return new(0, null, true);
        var bar = text.IndexOf('|');
        var done = bar < 0 ? text : text[..bar];
        var next = done.Length == 0 ? 0 : Sequence(done, shardIndex).Ordinal + 1;
        if (bar < 0)
            return new(next, null, false);
        var range = text[(bar + 1)..].Split("..");
        if (range.Length != 2)
            throw new FormatException($"'{text}' is not a delivery checkpoint.");
        return new(next, (Sequence(range[0], shardIndex).Ordinal, Sequence(range[1], shardIndex).Ordinal), false);
    }

    /// <summary>Everything before <paramref name="nextOrdinal"/> delivered.</summary>
    public static string? Delivered(int shardIndex, ulong nextOrdinal) =>
        nextOrdinal == 0 ? null : new SequenceNumber(shardIndex, nextOrdinal - 1).ToString();

    /// <summary>Everything before <paramref name="nextOrdinal"/> delivered; the object of first..last about to be written.</summary>
    public static string Writing(int shardIndex, ulong nextOrdinal, ulong first, ulong last) =>
        $"{Delivered(shardIndex, nextOrdinal)}|{new SequenceNumber(shardIndex, first)}..{new SequenceNumber(shardIndex, last)}";

    private static SequenceNumber Sequence(string text, int shardIndex) =>
        SequenceNumber.TryParse(text, out var s) && s.ShardIndex == shardIndex ? s : throw new FormatException($"'{text}' is not a sequence number of shard {shardIndex}.");
}
