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

    /// <summary>
    /// The key of an object of records, or with <paramref name="errorOutputType"/> of an object of failed records: under
    /// ErrorOutputPrefix, or when that is unset under <c>&lt;Prefix&gt;&lt;error-output-type&gt;/yyyy/MM/dd/HH/</c>.
    /// <paramref name="partition"/> (dynamic partitioning) is the partition's number within the range, 0 for the first
    /// partition met, so each partition of a range gets its own key, the same on every replay.
    /// </summary>
    public static string Key(string deliveryStreamName, long destinationVersion, S3Destination destination, ObjectSource source, string? errorOutputType = null,
        PartitionValues? partitionKeys = null, int partition = 0)
    {
        var oldest = DateTimeOffset.FromUnixTimeMilliseconds(source.OldestArrivalUnixMs);
        // Counters: 0.. objects, 1 << 16 error objects (1 << 8 per error type, as two types may share a prefix), 2 << 16
        // request ids, 3 << 16 and up partitions (1 << 8 counters each, 500 partitions at most).
        var stream = new HashStream(source, errorOutputType is not null ? (1 << 16) + (ErrorTypeNumber(errorOutputType) << 8) : partition == 0 ? 0 : (3 << 16) + (partition << 8));
        var id = stream.Next();
        var template = errorOutputType is null
            ? PrefixTemplate.Parse(destination.Prefix ?? "", "Prefix", destination.Partitioned)
            : destination.ErrorOutputPrefix is { } errorPrefix
                ? PrefixTemplate.Parse(errorPrefix, "ErrorOutputPrefix")
                : PrefixTemplate.Parse((destination.Prefix ?? "") + "!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH}/", "ErrorOutputPrefix");
        var prefix = template.Evaluate(oldest, () => stream.NextString(PrefixTemplate.RandomStringLength), errorOutputType, partitionKeys);
        var extension = destination.FileExtension ?? Compressions.Extension(destination.CompressionFormat);
        var name = string.Create(CultureInfo.InvariantCulture,
            $"{deliveryStreamName}-{destinationVersion}-{oldest.UtcDateTime:yyyy-MM-dd-HH-mm-ss}-{new Guid(id[..16], bigEndian: true)}{extension}");
        return prefix + name;
    }

    private static int ErrorTypeNumber(string errorOutputType) => errorOutputType switch
    {
        "processing-failed" => 1,
        "partitioning-failed" => 2,
        _ => 0,
    };

    /// <summary>The X-Amz-Firehose-Request-Id of the batch of these source positions: the same on every resend.</summary>
    public static string RequestId(ObjectSource source) => new Guid(new HashStream(source, 2 << 16).Next()[..16], bigEndian: true).ToString();

    /// <summary>SHA-256 of (delivery stream, shard, first, last, counter) for counter = start, start + 1, ...</summary>
    private sealed class HashStream(ObjectSource source, int start)
    {
        private int _counter = start;

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
