using Microsoft.Extensions.Time.Testing;
using Runnel.Core.Errors;
using Runnel.Core.Streams;

namespace Runnel.Core.Tests;

public class ShardIteratorTests
{
    private static readonly byte[] Key = "0123456789abcdef0123456789abcdef"u8.ToArray();

    [Fact]
    public void Round_trips_the_position()
    {
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-01-01T00:00:00Z"));
        var codec = new ShardIteratorCodec(Key, time);
        var token = codec.Encode(42, 3, 1000);
        Assert.True(token.Length <= 512);
        var position = codec.Decode(token);
        Assert.Equal(42, position.StreamId);
        Assert.Equal(3, position.ShardIndex);
        Assert.Equal(1000UL, position.NextOrdinal);
    }

    [Fact]
    public void Expires_after_five_minutes()
    {
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-01-01T00:00:00Z"));
        var codec = new ShardIteratorCodec(Key, time);
        var token = codec.Encode(1, 0, 0);
        time.Advance(TimeSpan.FromMinutes(5));
        codec.Decode(token);
        time.Advance(TimeSpan.FromMilliseconds(1));
        var error = Assert.Throws<KinesisException>(() => codec.Decode(token));
        Assert.Equal(ErrorTypes.ExpiredIterator, error.Type);
    }

    [Fact]
    public void A_tampered_or_foreign_token_is_an_invalid_argument()
    {
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-01-01T00:00:00Z"));
        var codec = new ShardIteratorCodec(Key, time);
        var token = codec.Encode(1, 0, 5);
        var flipped = (token[10] == 'A' ? 'B' : 'A');
        var tampered = token[..10] + flipped + token[11..];
        Assert.Equal(ErrorTypes.InvalidArgument, Assert.Throws<KinesisException>(() => codec.Decode(tampered)).Type);

        var foreign = new ShardIteratorCodec("another-key-of-32-bytes-length!!"u8, time).Encode(1, 0, 5);
        Assert.Equal(ErrorTypes.InvalidArgument, Assert.Throws<KinesisException>(() => codec.Decode(foreign)).Type);
        Assert.Equal(ErrorTypes.InvalidArgument, Assert.Throws<KinesisException>(() => codec.Decode("garbage")).Type);
        Assert.Equal(ErrorTypes.InvalidArgument, Assert.Throws<KinesisException>(() => codec.Decode("")).Type);
    }
}
