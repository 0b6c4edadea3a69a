using BenchmarkDotNet.Attributes;
using Runnel.Core.Streams;

namespace Runnel.Benchmarks;

/// <summary>The identifiers every record and read answer carries: sequence numbers, shard ids and shard iterators.</summary>
[MemoryDiagnoser]
public class SequenceNumberBenchmarks
{
    private readonly ShardIteratorCodec _codec = new(new byte[32], TimeProvider.System);
    private string _sequenceText = null!;
    private string _iterator = null!;
    // Large ordinals: the formatting cost grows with digits, and a busy shard reaches billions.
    private ulong _ordinal = 4_000_000_000;

    [GlobalSetup]
    public void Setup()
    {
        _sequenceText = new SequenceNumber(3, 123_456_789_012).ToString();
        _iterator = _codec.Encode(42, 3, 123_456_789);
    }

    [Benchmark]
    public string FormatSequenceNumber() => new SequenceNumber(3, _ordinal++).ToString();

    [Benchmark]
    public bool ParseSequenceNumber() => SequenceNumber.TryParse(_sequenceText, out _);

    [Benchmark]
    public string FormatShardId() => ShardIds.Format(3);

    [Benchmark]
    public string EncodeShardIterator() => _codec.Encode(42, 3, _ordinal++);

    [Benchmark]
    public ulong DecodeShardIterator() => _codec.Decode(_iterator).NextOrdinal;
}
