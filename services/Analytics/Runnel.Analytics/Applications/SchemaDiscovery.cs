using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Runnel.Analytics.Sql;
using Runnel.Core.Errors;
using Runnel.Core.Storage;
using Runnel.Core.Streams;
using Runnel.Metadata;
using Runnel.Metadata.Entities;
using Runnel.ServiceDefaults.Objects;
using Runnel.ShardStore.Client;

namespace Runnel.Analytics.Applications;

/// <summary>A discovered column: its name, JSONPath (JSON only) and SQL type.</summary>
public sealed record DiscoveredColumn(string Name, string? Mapping, string SqlType);

/// <summary>What DiscoverInputSchema answers: the schema, each sampled row's values as text, and the raw records.</summary>
public sealed record DiscoveredSchema(string Format, IReadOnlyList<DiscoveredColumn> Columns, IReadOnlyList<string?[]> Parsed, IReadOnlyList<string> Raw);

/// <summary>
/// DiscoverInputSchema over a data stream: samples up to <see cref="SampleSize"/> records (TRIM_HORIZON: the oldest
/// retained; NOW, the default: records put within <see cref="NowWait"/> of the call) and infers the columns. Over an
/// S3 object (S3Configuration, read through the object store), each non-empty line of the object is a record.
/// </summary>
public sealed class SchemaDiscovery(IDbContextFactory<MetadataDbContext> dbFactory, IShardStoreLocator locator, IObjectStore objects, TimeProvider time)
{
    public const string UnableToDetect = "UnableToDetectSchemaException";
    public const string Unsupported = "UnsupportedOperationException";

    /// <summary>Records sampled: enough to see every field of a typical record and the range of its values.</summary>
    public const int SampleSize = 100;

    /// <summary>How long a NOW discovery waits for records to arrive.</summary>
    public static readonly TimeSpan NowWait = TimeSpan.FromSeconds(10);

    public async Task<DiscoveredSchema> DiscoverAsync(JsonNode q, CancellationToken ct)
    {
        if (q["InputProcessingConfiguration"] is not null)
            throw new KinesisException(Unsupported, "InputProcessingConfiguration (a Lambda preprocessor) is not supported.");
        if (q["S3Configuration"] is { } s3)
        {
            if (q["ResourceARN"] is not null)
                throw ApplicationModel.Invalid("Give either ResourceARN or S3Configuration, not both.");
            var (bucket, key) = ApplicationModel.ReadS3Object(s3, "S3Configuration");
            var data = await objects.GetAsync(bucket, key, ct).ConfigureAwait(false)
                ?? throw KinesisException.ResourceNotFound($"S3 object s3://{bucket}/{key} does not exist.");
            var lines = Encoding.UTF8.GetString(data).Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(l => l.TrimEnd('\r')).Where(l => l.Length > 0).Take(SampleSize).Select(Encoding.UTF8.GetBytes).ToList();
            if (lines.Count == 0)
                throw new KinesisException(UnableToDetect, $"s3://{bucket}/{key} holds no records to detect a schema from.");
            return Infer(lines);
        }
        var arn = ApplicationModel.Str(q, "ResourceARN") ?? throw ApplicationModel.Invalid("ResourceARN is required.");
        var position = ApplicationModel.Str(q["InputStartingPositionConfiguration"], "InputStartingPosition") ?? "NOW";
        if (position is not ("NOW" or "TRIM_HORIZON"))
            throw ApplicationModel.Invalid($"InputStartingPosition {position} is not NOW or TRIM_HORIZON for discovery.");
        if (!Arns.TryParseStream(arn, out var name))
            throw ApplicationModel.Invalid($"{arn} is not a Kinesis stream ARN.");
        var raw = await SampleAsync(name, arn, position == "TRIM_HORIZON", ct).ConfigureAwait(false);
        if (raw.Count == 0)
            throw new KinesisException(UnableToDetect, $"No records found in {arn} to detect a schema from.");
        return Infer(raw);
    }

    private async Task<List<byte[]>> SampleAsync(string name, string arn, bool fromOldest, CancellationToken ct)
    {
        List<ShardRef> shards;
        await using (var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false))
        {
            var stream = await db.Streams.AsNoTracking().FirstOrDefaultAsync(s => s.Name == name && s.Status != StreamStatuses.Deleting, ct).ConfigureAwait(false)
                ?? throw KinesisException.ResourceNotFound($"Stream {arn} does not exist.");
            shards = await db.Shards.AsNoTracking().Where(s => s.StreamId == stream.Id).OrderBy(s => s.ShardIndex)
                .Select(s => new ShardRef(s.StreamId, s.ShardIndex)).ToListAsync(ct).ConfigureAwait(false);
        }
        var positions = new Dictionary<ShardRef, (IShardStore Store, ulong Next)>();
        foreach (var shard in shards)
        {
            var store = await OwnerStoreAsync(shard, ct).ConfigureAwait(false);
            positions[shard] = (store, fromOldest ? 0 : (await store.GetStateAsync(shard, ct).ConfigureAwait(false)).NextOrdinal);
        }
        var sample = new List<byte[]>();
        var deadline = time.GetUtcNow() + NowWait;
        while (true)
        {
            foreach (var shard in shards)
            {
                var (store, next) = positions[shard];
                var result = await store.ReadAsync(shard, new ReadRequest(next, SampleSize - sample.Count, 1 << 20), ct).ConfigureAwait(false);
                sample.AddRange(result.Records.Select(r => r.Data.ToArray()));
                positions[shard] = (store, result.NextOrdinal);
                if (sample.Count >= SampleSize)
                    return sample;
            }
            // TRIM_HORIZON samples what is there; NOW waits a while for the first records to come.
            if (fromOldest || sample.Count > 0 || time.GetUtcNow() >= deadline)
                return sample;
            await Task.Delay(TimeSpan.FromMilliseconds(200), time, ct).ConfigureAwait(false);
        }
    }

    private async Task<IShardStore> OwnerStoreAsync(ShardRef shard, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false);
        return (await locator.RequireOwnerAsync(db, shard, ct).ConfigureAwait(false)).Store;
    }

    /// <summary>JSON when every record is a JSON object; else CSV when every record splits on ',' into as many columns (at least two).</summary>
    public static DiscoveredSchema Infer(IReadOnlyList<byte[]> records)
    {
        var texts = records.Select(r => Encoding.UTF8.GetString(r)).ToList();
        var objects = new List<JsonObject>();
        foreach (var text in texts)
        {
            try
            {
                if (JsonNode.Parse(text) is JsonObject o)
                    objects.Add(o);
            }
            catch (JsonException)
            {
            }
        }
        if (objects.Count == texts.Count)
            return InferJson(objects, texts);
        var rows = texts.Select(t => t.TrimEnd('\r', '\n').Split(',')).ToList();
        if (rows[0].Length >= 2 && rows.All(r => r.Length == rows[0].Length))
        {
            var columns = Enumerable.Range(0, rows[0].Length)
                .Select(i => new DiscoveredColumn($"COL_{i + 1}", null, TypeOf(rows.Select(r => (JsonNode?)JsonValue.Create(r[i])), fromText: true))).ToList();
            return new DiscoveredSchema("CSV", columns, [.. rows.Select(r => r.Select(v => (string?)v).ToArray())], texts);
        }
        throw new KinesisException(UnableToDetect, "The records are neither JSON objects nor delimited text with a consistent number of columns.");
    }

    private static DiscoveredSchema InferJson(List<JsonObject> objects, List<string> texts)
    {
        // Leaf paths in order of first appearance; a nested object's fields become $.a.b, arrays are left out.
        var paths = new List<string[]>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        void Walk(JsonObject o, string[] prefix)
        {
            foreach (var (key, value) in o)
            {
                string[] path = [.. prefix, key];
                if (value is JsonObject child)
                    Walk(child, path);
                else if (value is not JsonArray && seen.Add(string.Join('\u001f', path)))
                    paths.Add(path);
            }
        }
        foreach (var o in objects)
            Walk(o, []);
        if (paths.Count == 0)
            throw new KinesisException(UnableToDetect, "The records are JSON objects without scalar fields.");

        static JsonNode? At(JsonObject o, string[] path)
        {
            JsonNode? node = o;
            foreach (var step in path)
                node = node is JsonObject obj && obj.TryGetPropertyValue(step, out var next) ? next : null;
            return node;
        }
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var columns = new List<DiscoveredColumn>();
        for (var i = 0; i < paths.Count; i++)
        {
            var path = paths[i];
            var name = ColumnName(path[^1], i);
            for (var n = 2; !names.Add(name); n++)
                name = $"{ColumnName(path[^1], i)}_{n}";
            columns.Add(new DiscoveredColumn(name, "$." + string.Join('.', path), TypeOf(objects.Select(o => At(o, path)), fromText: false)));
        }
        var parsed = objects.Select(o => paths.Select(p => At(o, p) switch
        {
            null => null,
            JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
            var v => v.ToJsonString(),
        }).ToArray()).ToList();
        return new DiscoveredSchema("JSON", columns, parsed, texts);
    }

    private static readonly HashSet<string> ReservedNames =
    [
        "TIMESTAMP", "USER", "VALUES", "YEAR", "MONTH", "DAY", "HOUR", "MINUTE", "SECOND", "DATE", "TIME", "ROWTIME",
        "SELECT", "FROM", "WHERE", "GROUP", "ORDER", "BY", "AS", "AND", "OR", "NOT", "NULL", "TRUE", "FALSE", "CASE",
        "WHEN", "THEN", "ELSE", "END", "IN", "IS", "LIKE", "BETWEEN", "STREAM", "WINDOW", "PARTITION", "OVER", "RANGE",
        "ROWS", "INTERVAL", "INSERT", "INTO", "CREATE", "TABLE", "VALUE", "KEY", "CURRENT", "POSITION", "COUNT", "SUM",
        "MIN", "MAX", "AVG", "STEP", "FLOOR", "CEIL", "CAST", "JOIN", "ON", "LEFT", "RIGHT", "INNER", "OUTER", "UNION",
    ];

    /// <summary>
    /// AWS's naming rule: the source name is kept when it is letters, digits and _, not a reserved word, not starting
    /// with a digit and at most 100 characters; otherwise it is prefixed COL_ with unsupported characters removed, or
    /// COL_n (n = the column's position from 0) when nothing remains.
    /// </summary>
    public static string ColumnName(string source, int position)
    {
        var kept = new string([.. source.Where(c => char.IsAsciiLetterOrDigit(c) || c == '_')]);
        if (kept.Length == 0)
            return "COL_" + position.ToString(CultureInfo.InvariantCulture);
        var plain = kept.Length == source.Length && !char.IsAsciiDigit(kept[0]) && !ReservedNames.Contains(kept.ToUpperInvariant());
        var name = plain ? kept : "COL_" + kept;
        return name.Length > 100 ? name[..100] : name;
    }

    /// <summary>
    /// The narrowest type every sampled value fits: BOOLEAN, INTEGER, BIGINT, REAL (a number with a fraction), TIMESTAMP
    /// (ISO-8601 text), else VARCHAR(n) with n the longest text rounded up to a power of two (AWS's sizes: 3 → 4, 10 → 16).
    /// A JSON string is only ever TIMESTAMP or VARCHAR; CSV fields (<paramref name="fromText"/>) are read as any type.
    /// </summary>
    internal static string TypeOf(IEnumerable<JsonNode?> values, bool fromText)
    {
        bool allBool = true, allInt = true, allLong = true, allNumber = true, allTime = true, any = false;
        var longest = 1;
        foreach (var v in values)
        {
            if (v is null)
                continue;
            any = true;
            var kind = v.GetValueKind();
            var text = kind == JsonValueKind.String ? v.GetValue<string>() : v.ToJsonString();
            longest = Math.Max(longest, text.Length);
            var literal = fromText || kind != JsonValueKind.String;
            var isBool = kind is JsonValueKind.True or JsonValueKind.False || (fromText && bool.TryParse(text, out _));
            allBool &= isBool;
            var l = 0L;
            var isLong = literal && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out l);
            allLong &= isLong;
            allInt &= isLong && l is >= int.MinValue and <= int.MaxValue;
            allNumber &= literal && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out _);
            allTime &= kind == JsonValueKind.String && text.Length >= 10 && Values.ParseTimestamp(text) is not null;
        }
        if (!any)
            return "VARCHAR(1)";
        if (allBool)
            return "BOOLEAN";
        if (allInt)
            return "INTEGER";
        if (allLong)
            return "BIGINT";
        if (allNumber)
            return "REAL";
        if (allTime)
            return "TIMESTAMP";
        var size = 1;
        while (size < longest)
            size *= 2;
        return $"VARCHAR({size})";
    }
}
