using System.Buffers;
using System.Text;
using Runnel.Core.Storage;
using Runnel.ShardStore.Client.Wire;

namespace Runnel.ShardStore.Tests;

/// <summary>A read answer as a remote node sends it: every record's fields, its encryption flag included, arrive intact.</summary>
public sealed class ReadWireTests
{
    [Fact]
    public void Read_results_round_trip_with_the_encryption_of_each_record()
    {
        // The longest partition key in bytes (256 characters of 3 UTF-8 bytes each) must not reach the flag bit.
        var longest = new string('\u20AC', 256);
        Assert.Equal(768, Encoding.UTF8.GetByteCount(longest));
        StoredRecord[] records =
        [
            new(7, 1_780_000_000_000, "k", "clear"u8.ToArray()),
            new(8, 1_780_000_000_001, longest, "sealed"u8.ToArray(), Encrypted: true),
            new(9, 1_780_000_000_002, "é", Array.Empty<byte>(), Encrypted: true),
            new(10, 1_780_000_000_003, longest, "clear again"u8.ToArray()),
        ];
        var buffer = new ArrayBufferWriter<byte>();
        ShardStoreWire.WriteReadResult(buffer, new ReadResult(records, 11, EndOfShard: false, MillisBehindLatest: 42));

        var read = ShardStoreWire.ReadReadResult(buffer.WrittenMemory);
        Assert.Equal((11UL, false, 42L), (read.NextOrdinal, read.EndOfShard, read.MillisBehindLatest));
        Assert.Equal(records.Length, read.Records.Count);
        for (var i = 0; i < records.Length; i++)
        {
            var (expected, actual) = (records[i], read.Records[i]);
            Assert.Equal((expected.Ordinal, expected.ArrivalUnixMs, expected.PartitionKey, expected.Encrypted),
                (actual.Ordinal, actual.ArrivalUnixMs, actual.PartitionKey, actual.Encrypted));
            Assert.Equal(expected.Data.ToArray(), actual.Data.ToArray());
        }
    }
}
