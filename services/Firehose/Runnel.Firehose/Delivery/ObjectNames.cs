using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Runnel.Firehose.Destinations;

namespace Runnel.Firehose.Delivery;

/// <summary>The source positions an object holds: records <c>First..Last</c> of one shard of a delivery stream's source.</summary>
public readonly record struct ObjectSource(long DeliveryStreamId, int ShardIndex, ulong First, ulong Last, long OldestArrivalUnixMs);

/// <summary>
/// Keys of delivered objects: <c>&lt;evaluated prefix&gt;&lt;DeliveryStreamName&gt;-&lt;DestinationVersion&gt;-yyyy-MM-dd-HH-mm-ss-&lt;id&gt;&lt;extension&gt;</c>,
/// the time being the arrival of the oldest record. Nothing in a key is random: the id and every
/// <c>!{firehose:random-string}</c> are drawn from SHA-256 of the source positions, so the same records always get the
/// same key and a replayed object replaces itself instead of adding a copy.
/// </summary>
public static class ObjectNames
{
    private const string Alphabet = "0123456789abcdefghijklmnopqrstuvwxyz";

    public static string Key(string deliveryStreamName, long destinationVersion, S3Destination destination, ObjectSource source)
    {
        var oldest = DateTimeOffset.FromUnixTimeMilliseconds(source.OldestArrivalUnixMs);
        var stream = new HashStream(source);
        var id = stream.Next();
        var prefix = PrefixTemplate.Parse(destination.Prefix ?? "", "Prefix").Evaluate(oldest, () => stream.NextString(PrefixTemplate.RandomStringLength));
        var extension = destination.FileExtension ?? Compressions.Extension(destination.CompressionFormat);
        var name = string.Create(CultureInfo.InvariantCulture,
            $"{deliveryStreamName}-{destinationVersion}-{oldest.UtcDateTime:yyyy-MM-dd-HH-mm-ss}-{new Guid(id[..16], bigEndian: true)}{extension}");
        return prefix + name;
    }

    /// <summary>SHA-256 of (delivery stream, shard, first, last, counter) for counter = 0, 1, 2, ...</summary>
    private sealed class HashStream(ObjectSource source)
    {
        private int _counter;

        public byte[] Next()
        {
            Span<byte> input = stackalloc byte[8 + 4 + 8 + 8 + 4];
            BinaryPrimitives.WriteInt64BigEndian(input, source.DeliveryStreamId);
            BinaryPrimitives.WriteInt32BigEndian(input[8..], source.ShardIndex);
            BinaryPrimitives.WriteUInt64BigEndian(input[12..], source.First);
            BinaryPrimitives.WriteUInt64BigEndian(input[20..], source.Last);
            BinaryPrimitives.WriteInt32BigEndian(input[28..], _counter++);
            return SHA256.HashData(input);
        }

        public string NextString(int length)
        {
            var hash = Next();
            var builder = new StringBuilder(length);
            for (var i = 0; i < length; i++)
                builder.Append(Alphabet[hash[i] % Alphabet.Length]);
            return builder.ToString();
        }
    }
}
