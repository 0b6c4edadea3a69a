using System.Text;
using Runnel.Core.Errors;
using Runnel.Core.Hashing;
using Runnel.Core.Wire;
using Runnel.Ingest.Protocol;
using Runnel.Ingest.Streams;

namespace Runnel.Ingest.Tests;

public sealed class RoutingTableTests
{
    private static StreamRoute Route(int shards)
    {
        var ranges = HashKeyRange.EvenSplit(shards);
        return new StreamRoute(7, "s", "ACTIVE", 1 << 20,
            ranges.Select((r, i) => new ShardRoute(i, r, null, null, "n", 1, true)), Environment.TickCount64);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(7)]
    [InlineData(64)]
    public void Every_key_routes_to_the_shard_whose_range_contains_it(int shards)
    {
        var route = Route(shards);
        var ranges = HashKeyRange.EvenSplit(shards);
        var random = new Random(shards);
        var keys = new List<UInt128> { UInt128.Zero, UInt128.MaxValue };
        foreach (var r in ranges)
            keys.AddRange([r.Start, r.End]);
        for (var i = 0; i < 1000; i++)
            keys.Add(HashKeys.FromPartitionKey($"k{random.Next()}"));
        foreach (var key in keys)
        {
            var shard = route.Route(key);
            Assert.NotNull(shard);
            Assert.True(shard.Range.Contains(key));
        }
    }

    [Fact]
    public void Closed_shards_take_no_writes_but_stay_addressable()
    {
        var full = HashKeyRange.Full;
        var halves = HashKeyRange.EvenSplit(2);
        var route = new StreamRoute(1, "s", "ACTIVE", 1 << 20,
        [
            new ShardRoute(0, full, null, null, "n", 1, false),
            new ShardRoute(1, halves[0], 0, null, "n", 1, true),
            new ShardRoute(2, halves[1], 0, null, "n", 1, true),
        ], Environment.TickCount64);
        Assert.Equal(1, route.Route(UInt128.Zero)!.Index);
        Assert.Equal(2, route.Route(UInt128.MaxValue)!.Index);
        Assert.NotNull(route.Shard(0));
        Assert.Equal([1, 2], route.ChildrenOf(0).Select(s => s.Index));
    }
}

public sealed class ValidationTests
{
    [Fact]
    public void Violations_are_worded_and_counted_like_the_service()
    {
        var v = new Violations();
        v.NotNull("streamName", null);
        v.Range("shardCount", 0, 1, 100);
        var e = Assert.Throws<KinesisException>(v.ThrowIfAny);
        Assert.Equal(ErrorTypes.Validation, e.Type);
        Assert.Equal("2 validation errors detected: Value null at 'streamName' failed to satisfy constraint: Member must not be null; " +
            "Value '0' at 'shardCount' failed to satisfy constraint: Member must have value greater than or equal to 1", e.Message);
    }

    [Fact]
    public void At_most_ten_violations_are_reported()
    {
        var v = new Violations();
        for (var i = 0; i < 20; i++)
            v.NotNull($"m{i}", null);
        var e = Assert.Throws<KinesisException>(v.ThrowIfAny);
        Assert.StartsWith("10 validation errors detected", e.Message);
    }

    [Theory]
    [InlineData("0", true)]
    [InlineData("340282366920938463463374607431768211455", true)]
    [InlineData("01", false)]
    [InlineData("-1", false)]
    [InlineData("1234567890123456789012345678901234567890", false)]
    public void Hash_key_pattern(string text, bool ok) => Assert.Equal(ok, Violations.IsHashKeyText(text));

    private static ReadOnlyMemory<byte>? ReadBlob(string json)
    {
        var body = Encoding.UTF8.GetBytes(json);
        var r = WireReader.Create(body, body.Length, WireFormat.Json);
        r.ReadRequestStart();
        Assert.True(r.TryReadPropertyName(out _));
        return r.ReadBlob();
    }

    [Fact]
    public void Base64_blobs_decode_in_place_and_escaped_ones_too()
    {
        Assert.Equal("hello"u8.ToArray(), ReadBlob("""{"Data":"aGVsbG8="}""")!.Value.ToArray());
        Assert.Equal(new byte[] { 0xff, 0xff }, ReadBlob("""{"Data":"\/\/8="}""")!.Value.ToArray());
        Assert.Null(ReadBlob("""{"Data":null}"""));
    }

    [Theory]
    [InlineData("""{"Data":"abc"}""", "Base64 encoded length is expected a multiple of 4 bytes but found: 3")]
    [InlineData("""{"Data":"ab!="}""", "Invalid Base64 character: '!'")]
    [InlineData("""{"Data":"a=bc"}""", "Invalid Base64 character: '='")]
    [InlineData("""{"Data":5}""", "class java.math.BigDecimal can not be converted to a Blob")]
    [InlineData("""{"Data":[]}""", "Start of list found where not expected")]
    public void Bad_blobs_are_serialization_errors(string json, string message)
    {
        var e = Assert.Throws<KinesisException>(() => ReadBlob(json));
        Assert.Equal(ErrorTypes.Serialization, e.Type);
        Assert.Contains(message, e.Message);
    }
}
