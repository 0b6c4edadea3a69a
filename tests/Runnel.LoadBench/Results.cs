using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Runnel.LoadBench;

/// <summary>Latency percentiles in milliseconds (nearest rank over every sample).</summary>
public sealed record LatencySummary(long Count, double Mean, double P50, double P90, double P99, double P999, double Max);

/// <summary>What the server processes and the machine spent during one scenario.</summary>
public sealed record ResourceUsage(
    double PeakRssMiB,
    double ServerCpuCores,
    double BenchCpuCores,
    int MachineCores,
    double MachineBusyPercent,
    double MachineIowaitPercent,
    double ServerWriteMiB);

/// <summary>
/// The soak's memory figures: the server's resident memory sampled at a fixed interval over the whole run, and the
/// least-squares slope over the samples taken after the warm-up (memory that keeps growing shows as a positive slope).
/// </summary>
public sealed record SoakSummary(
    double SampleSeconds,
    double FirstRssMiB,
    double PeakRssMiB,
    double LastRssMiB,
    double SlopeMiBPerMinute,
    double MinutesMeasured,
    IReadOnlyList<RssSample> Samples);

/// <summary>Seconds since the soak started, and the server's resident memory then.</summary>
public sealed record RssSample(double Seconds, double RssMiB);

/// <summary>The drain's check that every acknowledged record was read exactly once and in order.</summary>
public sealed record Verification(
    bool Passed,
    long Acknowledged,
    long Read,
    long Duplicates,
    long Missing,
    long OutOfOrder,
    long Unacknowledged,
    long Unreadable,
    string? Detail);

public sealed record ScenarioResult
{
    public required string Name { get; init; }
    public double Seconds { get; init; }
    public long Requests { get; init; }
    public long Records { get; init; }
    public long Bytes { get; init; }
    public double RequestsPerSecond { get; init; }
    public double RecordsPerSecond { get; init; }
    public double MiBPerSecond { get; init; }
    /// <summary>Per request; for the latency scenario, from the start of the put to the poller seeing the record.</summary>
    public LatencySummary? Latency { get; init; }
    /// <summary>Latency scenario only: the PutRecord calls themselves.</summary>
    public LatencySummary? PutLatency { get; init; }
    public long Errors { get; init; }
    public Dictionary<string, long> ErrorTypes { get; init; } = [];
    public long FailedRecords { get; init; }
    public Verification? Verification { get; init; }
    public ResourceUsage? Resources { get; init; }
    public SoakSummary? Soak { get; init; }
    public string? Note { get; init; }
}

public sealed record RunSettings(
    int Shards, int RecordBytes, int Clients, int BatchSize, double DurationSeconds, double WarmupSeconds,
    double LatencyDurationSeconds, int LatencyRate, double PollIntervalMs, int MaxRecordsPerSecond = 0);

public sealed record RunResult
{
    public required string Target { get; init; }
    public required string Endpoint { get; init; }
    public required string Http { get; init; }
    public int Round { get; init; }
    public DateTimeOffset StartedAt { get; init; }
    public required MachineInfo Machine { get; init; }
    public required RunSettings Settings { get; init; }
    public List<ScenarioResult> Scenarios { get; init; } = [];
}

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, WriteIndented = true, NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals)]
[JsonSerializable(typeof(RunResult))]
internal sealed partial class ResultJson : JsonSerializerContext;

/// <summary>
/// Latency samples of one task (no locking): Stopwatch ticks, kept whole so percentiles are exact. A 10 s run at
/// 20,000 calls/s is 200,000 samples (1.6 MB), well within reach.
/// </summary>
public sealed class LatencyRecorder
{
    private long[] _ticks = new long[4096];
    private int _count;

    public int Count => _count;

    public void Add(long ticks)
    {
        if (_count == _ticks.Length)
            Array.Resize(ref _ticks, _ticks.Length * 2);
        _ticks[_count++] = ticks;
    }

    public static LatencySummary? Summarize(IEnumerable<LatencyRecorder> recorders)
    {
        var all = recorders.SelectMany(r => r._ticks.Take(r._count)).ToArray();
        if (all.Length == 0)
            return null;
        Array.Sort(all);
        double Ms(long ticks) => Math.Round(ticks * 1000.0 / Stopwatch.Frequency, 3);
        double At(double q) => Ms(all[Math.Clamp((int)Math.Ceiling(q * all.Length) - 1, 0, all.Length - 1)]);
        return new LatencySummary(all.Length, Math.Round(all.Average(t => t * 1000.0 / Stopwatch.Frequency), 3),
            At(0.50), At(0.90), At(0.99), At(0.999), Ms(all[^1]));
    }
}

/// <summary>Error answers by type, per task.</summary>
public sealed class ErrorCounter
{
    public Dictionary<string, long> Types { get; } = new(StringComparer.Ordinal);

    public long Count { get; private set; }

    public void Add(string type, long count = 1)
    {
        Count += count;
        Types[type] = Types.GetValueOrDefault(type) + count;
    }

    public static Dictionary<string, long> Merge(IEnumerable<ErrorCounter> counters)
    {
        var merged = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var c in counters)
            foreach (var (type, n) in c.Types)
                merged[type] = merged.GetValueOrDefault(type) + n;
        return merged;
    }
}
