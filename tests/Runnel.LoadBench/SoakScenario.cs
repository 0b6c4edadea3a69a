using System.Diagnostics;

namespace Runnel.LoadBench;

/// <summary>
/// PutRecords load for minutes (the put-batch scenario with a long window) while the server's resident memory is
/// sampled at a fixed interval, to show whether memory stays flat under sustained load. Records are still entered
/// in a ledger, so failed records are counted as in put-batch; nothing is drained afterwards.
/// </summary>
public static class SoakScenario
{
    public static async Task<ScenarioResult> RunAsync(BenchOptions options, string stream, CancellationToken cancellationToken)
    {
        if (options.ServerPids.Count == 0)
            throw new ArgumentException("The soak samples the server's memory: give its process ids with --pids.");
        var soakOptions = options with { Duration = options.SoakDuration };
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var started = Stopwatch.GetTimestamp();
        var sampling = SampleAsync(options.ServerPids, options.SoakSampleInterval, started, stop.Token);
        ScenarioResult puts;
        try
        {
            puts = await PutBatchScenario.RunAsync(soakOptions, stream, new Ledger(options.Clients), cancellationToken);
        }
        finally
        {
            await stop.CancelAsync();
        }
        var samples = await sampling;
        return puts with { Name = BenchOptions.Soak, Soak = Summarize(samples, options.SoakSampleInterval, options.Warmup) };
    }

    private static async Task<List<RssSample>> SampleAsync(IReadOnlyList<int> pids, TimeSpan interval, long started, CancellationToken cancellationToken)
    {
        var samples = new List<RssSample>();
        using var timer = new PeriodicTimer(interval);
        samples.Add(Sample(pids, started));
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
                samples.Add(Sample(pids, started));
        }
        catch (OperationCanceledException)
        {
        }
        samples.Add(Sample(pids, started));
        return samples;
    }

    private static RssSample Sample(IReadOnlyList<int> pids, long started) =>
        new(Math.Round(Stopwatch.GetElapsedTime(started).TotalSeconds, 2), Math.Round(pids.Sum(ResourceSampler.RssKb) / 1024.0, 1));

    internal static SoakSummary Summarize(IReadOnlyList<RssSample> samples, TimeSpan interval, TimeSpan warmup)
    {
        // The slope ignores the warm-up (JIT, first segment files, pools filling) and needs at least two points.
        var measured = samples.Where(s => s.Seconds >= warmup.TotalSeconds).ToList();
        if (measured.Count < 2)
            measured = [.. samples];
        double slope = 0;
        if (measured.Count >= 2)
        {
            var meanX = measured.Average(s => s.Seconds);
            var meanY = measured.Average(s => s.RssMiB);
            var sxx = measured.Sum(s => (s.Seconds - meanX) * (s.Seconds - meanX));
            var sxy = measured.Sum(s => (s.Seconds - meanX) * (s.RssMiB - meanY));
            slope = sxx > 0 ? sxy / sxx * 60 : 0;
        }
        var minutes = measured.Count >= 2 ? (measured[^1].Seconds - measured[0].Seconds) / 60 : 0;
        return new SoakSummary(
            interval.TotalSeconds,
            samples.Count > 0 ? samples[0].RssMiB : 0,
            samples.Count > 0 ? samples.Max(s => s.RssMiB) : 0,
            samples.Count > 0 ? samples[^1].RssMiB : 0,
            Math.Round(slope, 2),
            Math.Round(minutes, 2),
            samples);
    }
}
