using Runnel.Core.Hashing;

namespace Runnel.Core.Tests;

public class HashKeyTests
{
    [Theory]
    // MD5("user1") = MD5 of "user1", read as a big-endian 128-bit integer.
    [InlineData("user1", "48900430532020830442050270794663993245")]
    // MD5("a") = 0cc175b9c0f1b6a831c399e269772661
    [InlineData("a", "16955237001963240173058271559858726497")]
    public void Partition_key_maps_to_big_endian_md5(string key, string expected)
    {
        Assert.Equal(expected, HashKeys.Format(HashKeys.FromPartitionKey(key)));
    }

    [Fact]
    public void Longest_multibyte_partition_key_hashes()
    {
        var key = new string('\uD55C', HashKeys.MaxPartitionKeyLength);
        var first = HashKeys.FromPartitionKey(key);
        Assert.Equal(first, HashKeys.FromPartitionKey(key));
        Assert.NotEqual(first, HashKeys.FromPartitionKey(key[..^1]));
    }

    [Fact]
    public void Partition_key_hash_equals_the_platform_md5_at_every_padding_boundary()
    {
        // Every UTF-8 length from 0 to 768 bytes: one-block and two-block paddings, exact multiples of 64,
        // and keys of 1-, 2- and 3-byte characters.
        var random = new Random(7);
        foreach (var unit in new[] { "k", "\u00e9", "\uD55C" })
        {
            for (var chars = 0; chars <= HashKeys.MaxPartitionKeyLength; chars++)
            {
                var key = string.Concat(Enumerable.Repeat(unit, chars));
                if (chars > 0 && unit == "k")
                    key = string.Create(chars, random, static (span, r) => { for (var i = 0; i < span.Length; i++) span[i] = (char)r.Next(32, 127); });
                var expected = System.Buffers.Binary.BinaryPrimitives.ReadUInt128BigEndian(
                    System.Security.Cryptography.MD5.HashData(System.Text.Encoding.UTF8.GetBytes(key)));
                Assert.Equal(expected, HashKeys.FromPartitionKey(key));
            }
        }
    }

    [Theory]
    [InlineData("0", true)]
    [InlineData("340282366920938463463374607431768211455", true)]
    [InlineData("340282366920938463463374607431768211456", false)]
    [InlineData("-1", false)]
    [InlineData("1.5", false)]
    [InlineData(" 1", false)]
    [InlineData("", false)]
    [InlineData(null, false)]
    public void Explicit_hash_key_must_be_a_plain_128_bit_decimal(string? text, bool valid)
    {
        Assert.Equal(valid, HashKeys.TryParse(text, out _));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(7)]
    [InlineData(500)]
    public void Even_split_covers_the_space_without_gaps_or_overlaps(int count)
    {
        var ranges = HashKeyRange.EvenSplit(count);
        Assert.Equal(count, ranges.Count);
        Assert.Equal(UInt128.Zero, ranges[0].Start);
        Assert.Equal(UInt128.MaxValue, ranges[^1].End);
        for (var i = 1; i < count; i++)
            Assert.Equal(ranges[i - 1].End + 1, ranges[i].Start);
    }

    [Fact]
    public void Even_split_in_two_matches_kinesis_boundaries()
    {
        var ranges = HashKeyRange.EvenSplit(2);
        Assert.Equal("170141183460469231731687303715884105727", HashKeys.Format(ranges[0].End));
        Assert.Equal("170141183460469231731687303715884105728", HashKeys.Format(ranges[1].Start));
    }
}
