using BenchmarkDotNet.Attributes;
using Runnel.Core.Storage;

namespace Runnel.Benchmarks;

/// <summary>
/// The shard log: appends through the group-commit writer (one record, eight concurrent single records, a 125-record
/// batch) and reads of committed records, on the relaxed-commit store of <see cref="ShardLogBenchmarkBase"/>.
/// </summary>
[MemoryDiagnoser]
[WarmupCount(3)]
[IterationCount(10)]
[IterationTime(250)]
public class LogBenchmarks : ShardLogBenchmarkBase
{
    private const int Concurrency = 8;

    private AppendRecord[]? _one;
    private readonly Task<AppendResult>[] _concurrent = new Task<AppendResult>[Concurrency];

    private AppendRecord[] One => _one ??= [new AppendRecord("0123456789abcdef", Data)];

    [Benchmark]
    public Task<AppendResult> AppendOne() => Store.AppendAsync(Appended, 1, One, CancellationToken.None);

    /// <summary>Eight single-record appends in flight at once, as eight PutRecord clients produce: one group commit serves several.</summary>
    [Benchmark(OperationsPerInvoke = Concurrency)]
    public Task AppendOneEightConcurrent()
    {
        for (var i = 0; i < Concurrency; i++)
            _concurrent[i] = Store.AppendAsync(Appended, 1, One, CancellationToken.None);
        return Task.WhenAll(_concurrent);
    }
}
