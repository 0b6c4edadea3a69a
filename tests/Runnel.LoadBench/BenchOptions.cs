using System.Globalization;

namespace Runnel.LoadBench;

/// <summary>Which HTTP version the clients speak. HTTP/2 on an http:// endpoint means cleartext with prior knowledge (h2c).</summary>
public enum HttpMode
{
    Http11,
    Http2,

    /// <summary>HTTP/1.1 through HttpClient instead of <see cref="Http1Wire"/> (to compare the client's own cost).</summary>
    Http11HttpClient,
}

/// <summary>
/// Settings of one benchmark run against one endpoint. The defaults are the published comparison's shape:
/// 1 KiB records, 4 shards, 8 concurrent clients, 500-record PutRecords batches, a 20 ms poller.
/// </summary>
public sealed record BenchOptions
{
    public const string PutBatch = "put-batch";
    public const string Drain = "drain";
    public const string PutSingle = "put-single";
    public const string Latency = "latency";
    public const string Soak = "soak";
    public const string FirehoseBatch = "firehose-batch";

    /// <summary>The scenarios of a default run (and of the comparison report).</summary>
    public static readonly IReadOnlyList<string> AllScenarios = [PutBatch, Drain, PutSingle, Latency];

    /// <summary>Every scenario; the soak runs only when asked for, it takes minutes.</summary>
    public static readonly IReadOnlyList<string> KnownScenarios = [.. AllScenarios, FirehoseBatch, Soak];

    public required Uri Endpoint { get; init; }

    /// <summary>Name of the system under test in the results (e.g. runnel, kinesalite).</summary>
    public required string Target { get; init; }

    public HttpMode Http { get; init; } = HttpMode.Http11;

    public IReadOnlyList<string> Scenarios { get; init; } = AllScenarios;

    public int Shards { get; init; } = 4;

    public int RecordBytes { get; init; } = 1024;

    public int Clients { get; init; } = 8;

    public int BatchSize { get; init; } = 500;

    /// <summary>Measured time of each put scenario, after <see cref="Warmup"/>.</summary>
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Load that runs before measuring starts (JIT, connection set-up, first segment files).</summary>
    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(2);

    public TimeSpan LatencyDuration { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long the soak puts batches (after <see cref="Warmup"/>).</summary>
    public TimeSpan SoakDuration { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Interval between the soak's samples of the server's resident memory.</summary>
    public TimeSpan SoakSampleInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Records per second the PutRecords clients offer together, 0 for as fast as they can. A soak at full speed
    /// writes about 100 MB/s here, which fills a disk in minutes (retention is at least 24 hours).
    /// </summary>
    public int MaxRecordsPerSecond { get; init; }

    /// <summary>Single records per second the latency producer sends (spread over the shards by random keys).</summary>
    public int LatencyRate { get; init; } = 100;

    public TimeSpan PollInterval { get; init; } = TimeSpan.FromMilliseconds(20);

    /// <summary>Upper bound on the drain; a drain that has not reached every shard's tip by then fails verification.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromMinutes(5);

    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Server processes whose memory and CPU are sampled (all processes of a multi-process deployment).</summary>
    public IReadOnlyList<int> ServerPids { get; init; } = [];

    public string? JsonPath { get; init; }

    public int Round { get; init; } = 1;

    public string StreamPrefix { get; init; } = "bench";

    public bool KeepStreams { get; init; }

    public int Seed { get; init; } = 42;

    public const string Usage = """
        Runnel.LoadBench: load benchmark for Kinesis-compatible endpoints (Kinesis JSON 1.1 over HTTP).

        run (default):
          --endpoint URL          required, e.g. http://127.0.0.1:4700
          --target NAME           label in the results (default: host:port)
          --http 1.1|2            HTTP/1.1 keep-alive (default) or HTTP/2 (h2c prior knowledge on http://);
                                  1.1-httpclient: HTTP/1.1 through HttpClient instead of the raw socket client
          --scenarios LIST        comma list of put-batch,drain,put-single,latency,firehose-batch,soak (default:
                                  the first four; drain needs put-batch; firehose-batch is Runnel's PutRecordBatch
                                  into a Direct PUT delivery stream delivering GZIP objects)
          --shards N              shards per stream (4)
          --record-bytes N        data bytes per record (1024, at least 12)
          --clients N             concurrent clients of the put scenarios (8)
          --batch N               records per PutRecords (500)
          --duration S            measured seconds per put scenario (10)
          --warmup S              seconds of load before measuring (2)
          --latency-duration S    seconds of the put-to-visible scenario (10)
          --soak-minutes M        soak: minutes of PutRecords load after the warm-up (10)
          --soak-sample-seconds S soak: interval between samples of the server's RSS (5)
          --max-rate N            PutRecords (and soak) clients together offer at most N records/s (0: no cap)
          --latency-rate N        records per second in the put-to-visible scenario (100)
          --poll-ms N             GetRecords polling interval of the put-to-visible scenario (20)
          --drain-timeout S       give up draining after this long (300)
          --request-timeout S     per request (60)
          --pids LIST             comma list of server process ids to sample (RSS, CPU)
          --json FILE             write the results as JSON
          --round N               round number recorded in the results (1)
          --stream-prefix NAME    stream names start with this (bench)
          --keep-streams          do not delete the streams afterwards
          --seed N                random seed for keys and payloads (42)

        report:
          --results DIR           folder of result JSON files (searched recursively)
          --out FILE              markdown file; the text between the results markers is replaced
          --baseline NAME         target that is Runnel Standalone (runnel)
          --cluster NAME          target that is Runnel multi-process (runnel-cluster)
          --command TEXT          the command that produced the results, quoted in the report
          --preliminary TEXT      mark the figures as preliminary, with this reason
        """;

    public static BenchOptions Parse(IReadOnlyList<string> args)
    {
        var values = ArgumentMap.Parse(args, flags: ["keep-streams"]);
        var endpoint = values.Required("endpoint");
        if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) || (uri.Scheme != "http" && uri.Scheme != "https"))
            throw new ArgumentException($"--endpoint must be an http(s) URL, got '{endpoint}'.");
        var scenarios = values.Get("scenarios") is { } list
            ? list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            : [.. AllScenarios];
        foreach (var s in scenarios)
            if (!KnownScenarios.Contains(s))
                throw new ArgumentException($"Unknown scenario '{s}'; known: {string.Join(", ", KnownScenarios)}.");
        if (scenarios.Contains(Drain) && !scenarios.Contains(PutBatch))
            throw new ArgumentException("The drain scenario reads what put-batch wrote: list put-batch too.");
        var options = new BenchOptions
        {
            Endpoint = uri,
            Target = values.Get("target") ?? uri.Authority,
            Http = values.Get("http") switch
            {
                null or "1.1" or "1" or "http1" => HttpMode.Http11,
                "2" or "2.0" or "h2" or "h2c" or "http2" => HttpMode.Http2,
                "1.1-httpclient" => HttpMode.Http11HttpClient,
                var other => throw new ArgumentException($"--http must be 1.1, 2 or 1.1-httpclient, got '{other}'."),
            },
            // Fixed order: drain reads the put-batch stream, so put-batch always runs first.
            Scenarios = [.. KnownScenarios.Where(scenarios.Contains)],
            Shards = values.Int("shards", 4, 1, 1000),
            RecordBytes = values.Int("record-bytes", 1024, RecordLayout.IdBytes, 1024 * 1024),
            Clients = values.Int("clients", 8, 1, 1024),
            BatchSize = values.Int("batch", 500, 1, 500),
            Duration = values.Seconds("duration", 10),
            Warmup = values.Seconds("warmup", 2, allowZero: true),
            LatencyDuration = values.Seconds("latency-duration", 10),
            SoakDuration = values.Seconds("soak-minutes", 10) * 60,
            SoakSampleInterval = values.Seconds("soak-sample-seconds", 5),
            MaxRecordsPerSecond = values.Int("max-rate", 0, 0, 100_000_000),
            LatencyRate = values.Int("latency-rate", 100, 1, 100_000),
            PollInterval = TimeSpan.FromMilliseconds(values.Int("poll-ms", 20, 1, 10_000)),
            DrainTimeout = values.Seconds("drain-timeout", 300),
            RequestTimeout = values.Seconds("request-timeout", 60),
            ServerPids = values.Get("pids") is { } pids
                ? [.. pids.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(p => int.Parse(p, CultureInfo.InvariantCulture))]
                : [],
            JsonPath = values.Get("json"),
            Round = values.Int("round", 1, 0, 1_000_000),
            StreamPrefix = values.Get("stream-prefix") ?? "bench",
            KeepStreams = values.Flag("keep-streams"),
            Seed = values.Int("seed", 42, int.MinValue, int.MaxValue),
        };
        values.ThrowIfUnused();
        return options;
    }
}

/// <summary><c>--name value</c> / <c>--name=value</c> pairs, with a check that every given option was understood.</summary>
public sealed class ArgumentMap
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);

    public static ArgumentMap Parse(IReadOnlyList<string> args, IReadOnlyCollection<string> flags)
    {
        var map = new ArgumentMap();
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal))
                throw new ArgumentException($"Unexpected argument '{arg}'.");
            var name = arg[2..];
            string value;
            var eq = name.IndexOf('=', StringComparison.Ordinal);
            if (eq >= 0)
            {
                value = name[(eq + 1)..];
                name = name[..eq];
            }
            else if (flags.Contains(name))
                value = "true";
            else if (i + 1 < args.Count)
                value = args[++i];
            else
                throw new ArgumentException($"--{name} needs a value.");
            map._values[name] = value;
        }
        return map;
    }

    public string? Get(string name)
    {
        _used.Add(name);
        return _values.GetValueOrDefault(name);
    }

    public string Required(string name) => Get(name) ?? throw new ArgumentException($"--{name} is required.");

    public bool Flag(string name) => Get(name) is { } v && v is not ("false" or "0");

    public int Int(string name, int fallback, int min, int max)
    {
        if (Get(name) is not { } text)
            return fallback;
        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
            throw new ArgumentException($"--{name} must be an integer in {min}..{max}, got '{text}'.");
        return value;
    }

    public TimeSpan Seconds(string name, double fallback, bool allowZero = false)
    {
        if (Get(name) is not { } text)
            return TimeSpan.FromSeconds(fallback);
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || value < 0 || (!allowZero && value == 0) || value > 86_400)
            throw new ArgumentException($"--{name} must be a number of seconds, got '{text}'.");
        return TimeSpan.FromSeconds(value);
    }

    public void ThrowIfUnused()
    {
        var unknown = _values.Keys.Where(k => !_used.Contains(k)).ToList();
        if (unknown.Count > 0)
            throw new ArgumentException($"Unknown option(s): {string.Join(", ", unknown.Select(u => "--" + u))}.");
    }
}
