using Runnel.Core.Streams;

namespace Runnel.Core.Tests;

public class SequenceNumberTests
{
    [Fact]
    public void Round_trips_through_its_decimal_form()
    {
        var original = new SequenceNumber(7, 123_456_789_012UL);
        Assert.True(SequenceNumber.TryParse(original.ToString(), out var parsed));
        Assert.Equal(original, parsed);
    }

    [Fact]
    public void Increases_with_the_ordinal_and_across_child_shards()
    {
        var a = new SequenceNumber(0, 0);
        var b = new SequenceNumber(0, 1);
        var parentLast = new SequenceNumber(0, ulong.MaxValue);
        var childFirst = new SequenceNumber(1, 0);
        Assert.True(a.CompareTo(b) < 0);
        Assert.True(parentLast.CompareTo(childFirst) < 0);
        Assert.True(UInt128.Parse(a.ToString()) < UInt128.Parse(b.ToString()));
    }

    [Theory]
    [InlineData("0", true)]
    [InlineData("01", false)]
    [InlineData("12a", false)]
    [InlineData("", false)]
    public void Well_formedness_follows_the_aws_pattern(string text, bool expected)
    {
        Assert.Equal(expected, SequenceNumber.IsWellFormed(text));
    }

    [Fact]
    public void A_well_formed_number_not_issued_here_is_not_decoded()
    {
        Assert.False(SequenceNumber.TryParse("49654239004340659526808176394838549442454334785221296130", out _));
        Assert.False(SequenceNumber.TryParse("5", out _));
    }

    [Fact]
    public void Shard_ids_format_and_parse()
    {
        Assert.Equal("shardId-000000000012", ShardIds.Format(12));
        Assert.True(ShardIds.TryParse("shardId-000000000012", out var index));
        Assert.Equal(12, index);
        Assert.True(ShardIds.TryParse("shardId-3", out index));
        Assert.Equal(3, index);
        Assert.True(ShardIds.TryParse("shard-1", out index));
        Assert.Equal(1, index);
        Assert.True(ShardIds.TryParse("foo-000000000005", out index));
        Assert.Equal(5, index);
        Assert.True(ShardIds.TryParse("7", out index));
        Assert.Equal(7, index);
        Assert.False(ShardIds.TryParse("shardId-", out _));
        Assert.False(ShardIds.TryParse("shardId-5a", out _));
        Assert.False(ShardIds.TryParse("shardId-99999999999999", out _));
    }

    [Fact]
    public void Stream_arns_parse()
    {
        var arn = Arns.Stream("us-east-1", "000000000000", "orders");
        Assert.Equal("arn:aws:kinesis:us-east-1:000000000000:stream/orders", arn);
        Assert.True(Arns.TryParseStream(arn, out var name));
        Assert.Equal("orders", name);
        Assert.False(Arns.TryParseStream("arn:aws:s3:::bucket", out _));
        Assert.False(Arns.TryParseStream("not an arn", out _));
    }
}
