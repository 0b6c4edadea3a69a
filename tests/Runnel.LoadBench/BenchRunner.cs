using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Runnel.LoadBench;

/// <summary>Runs the chosen scenarios against one endpoint, each on a fresh stream, and writes the figures.</summary>
public static class BenchRunner
{
    public static async Task<int> RunAsync(BenchOptions options, CancellationToken cancellationToken)
    {
        var result = new RunResult
        {
            Target = options.Target,
            Endpoint = options.Endpoint.ToString(),
            Http = options.Http == HttpMode.Http2 ? "2" : "1.1",
            Round = options.Round,
            StartedAt = DateTimeOffset.UtcNow,
            Machine = MachineInfo.Collect(),
            Settings = new RunSettings(options.Shards, options.RecordBytes, options.Clients, options.BatchSize, options.Duration.TotalSeconds,
                options.Warmup.TotalSeconds, options.LatencyDuration.TotalSeconds, options.LatencyRate, options.PollInterval.TotalMilliseconds,
                options.MaxRecordsPerSecond),
        };
        var runId = $"{Sanitize(options.Target)}-r{options.Round}-{Random.Shared.Next(0x1000000):x6}";
        Console.WriteLine($"# {options.Target} at {options.Endpoint} over HTTP/{result.Http}, round {options.Round}: " +
            $"{options.Shards} shards, {options.RecordBytes} B records, {options.Clients} clients, batches of {options.BatchSize}");
        Console.WriteLine(Table.Header);

        using var control = new KinesisConnection(options.Endpoint, options.Http, options.RequestTimeout);
        var admin = new StreamAdmin(control);
        var scenarios = options.Scenarios;

        if (scenarios.Contains(BenchOptions.PutBatch))
        {
            var stream = $"{options.StreamPrefix}-{runId}-batch";
            var shards = await admin.CreateAsync(stream, options.Shards, cancellationToken);
            var ledger = new Ledger(options.Clients);
            Report(result, await PutBatchScenario.RunAsync(options, stream, ledger, cancellationToken));
            if (scenarios.Contains(BenchOptions.Drain))
                Report(result, await DrainScenario.RunAsync(options, stream, shards, ledger, cancellationToken));
            if (!options.KeepStreams)
                await admin.DeleteAsync(stream, cancellationToken);
        }
        if (scenarios.Contains(BenchOptions.FirehoseBatch))
        {
            // GZIP objects of 128 MiB or 60 s to the server's default object store: delivery runs beside the intake.
            using var firehose = new KinesisConnection(options.Endpoint, options.Http, options.RequestTimeout, targetPrefix: KinesisConnection.FirehosePrefix);
            var hose = $"{options.StreamPrefix}-{runId}-hose";
            await firehose.CallAsync("CreateDeliveryStream", System.Text.Json.JsonSerializer.Serialize(new
            {
                DeliveryStreamName = hose,
                ExtendedS3DestinationConfiguration = new
                {
                    RoleARN = "arn:aws:iam::000000000000:role/bench",
                    BucketARN = $"arn:aws:s3:::{hose}",
                    CompressionFormat = "GZIP",
                    BufferingHints = new { SizeInMBs = 128, IntervalInSeconds = 60 },
                },
            }), cancellationToken);
            Report(result, await PutBatchScenario.RunFirehoseAsync(options, hose, new Ledger(options.Clients), cancellationToken));
            if (!options.KeepStreams)
                await firehose.CallAsync("DeleteDeliveryStream", $$"""{"DeliveryStreamName":"{{hose}}"}""", cancellationToken);
        }
        if (scenarios.Contains(BenchOptions.PutSingle))
        {
            var stream = $"{options.StreamPrefix}-{runId}-single";
            await admin.CreateAsync(stream, options.Shards, cancellationToken);
            Report(result, await PutSingleScenario.RunAsync(options, stream, cancellationToken));
            if (!options.KeepStreams)
                await admin.DeleteAsync(stream, cancellationToken);
        }
        if (scenarios.Contains(BenchOptions.Latency))
        {
            var stream = $"{options.StreamPrefix}-{runId}-latency";
            var shards = await admin.CreateAsync(stream, options.Shards, cancellationToken);
            Report(result, await LatencyScenario.RunAsync(options, stream, shards, cancellationToken));
            if (!options.KeepStreams)
                await admin.DeleteAsync(stream, cancellationToken);
        }

        if (scenarios.Contains(BenchOptions.Soak))
        {
            var stream = $"{options.StreamPrefix}-{runId}-soak";
            await admin.CreateAsync(stream, options.Shards, cancellationToken);
            var soak = await SoakScenario.RunAsync(options, stream, cancellationToken);
            Report(result, soak);
            if (soak.Soak is { } m)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"    soak RSS: first {m.FirstRssMiB:N0} MiB, peak {m.PeakRssMiB:N0} MiB, last {m.LastRssMiB:N0} MiB, " +
                    $"slope {m.SlopeMiBPerMinute:+0.0;-0.0;0.0} MiB/min over {m.MinutesMeasured:N1} min after the warm-up ({m.Samples.Count} samples)"));
            if (!options.KeepStreams)
                await admin.DeleteAsync(stream, cancellationToken);
        }

        if (options.JsonPath is { } path)
        {
            if (Path.GetDirectoryName(Path.GetFullPath(path)) is { } folder)
                Directory.CreateDirectory(folder);
            await File.WriteAllTextAsync(path, JsonSerializer.Serialize(result, ResultJson.Default.RunResult), cancellationToken);
            Console.WriteLine($"results: {path}");
        }

        // A run is good when every scenario moved records and every check passed; error answers are figures, not failures.
        var bad = result.Scenarios.Where(s => s.Records == 0 || s.Verification is { Passed: false }).Select(s => s.Name).ToList();
        if (bad.Count > 0)
        {
            Console.Error.WriteLine($"FAILED scenario(s): {string.Join(", ", bad)}");
            return 1;
        }
        return 0;
    }

    private static void Report(RunResult result, ScenarioResult scenario)
    {
        result.Scenarios.Add(scenario);
        Console.WriteLine(Table.Row(scenario));
        if (scenario.ErrorTypes.Count > 0)
            Console.WriteLine("    errors: " + string.Join(", ", scenario.ErrorTypes.Select(e => $"{e.Key} x{e.Value}")));
        if (scenario.Verification is { } v)
            Console.WriteLine($"    check: {(v.Passed ? "passed" : "FAILED")}: acknowledged {v.Acknowledged}, read {v.Read}, duplicates {v.Duplicates}, " +
                $"missing {v.Missing}, out of order {v.OutOfOrder}, unacknowledged {v.Unacknowledged}, unreadable {v.Unreadable}" +
                (v.Detail is null ? "" : $" ({v.Detail})"));
    }

    private static string Sanitize(string name)
    {
        var text = new StringBuilder();
        foreach (var c in name)
            text.Append(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '-');
        return text.Length > 40 ? text.ToString(0, 40) : text.ToString();
    }
}

/// <summary>The console table of one run.</summary>
public static class Table
{
    public const string Header =
        "scenario      records/s   calls/s    MiB/s   p50 ms   p99 ms   max ms   errors  peak RSS  srv CPU  bench CPU  busy%  iowait%";

    public static string Row(ScenarioResult s)
    {
        var r = s.Resources;
        var l = s.Latency;
        return string.Create(CultureInfo.InvariantCulture,
            $"{s.Name,-12}{s.RecordsPerSecond,11:N0}{s.RequestsPerSecond,10:N0}{s.MiBPerSecond,9:N1}" +
            $"{l?.P50 ?? double.NaN,9:N1}{l?.P99 ?? double.NaN,9:N1}{l?.Max ?? double.NaN,9:N1}{s.Errors,9:N0}" +
            $"{(r is null ? "" : $"{r.PeakRssMiB:N0} MiB"),10}{r?.ServerCpuCores ?? 0,9:N2}{r?.BenchCpuCores ?? 0,11:N2}" +
            $"{r?.MachineBusyPercent ?? 0,7:N0}{r?.MachineIowaitPercent ?? 0,9:N0}");
    }
}
