using System.Formats.Cbor;
using System.Text;

namespace Runnel.Hardening.Tests;

/// <summary>One malformed request of the corpus: how it is sent and what it carries.</summary>
public sealed record FuzzRequest(string Kind, string Operation, string ContentType, byte[] Body, string Path = "/", string Method = "POST")
{
    public override string ToString() =>
        $"{Kind} {Method} {Path} {Operation} [{ContentType}] {Convert.ToHexString(Body.AsSpan(0, Math.Min(Body.Length, 160)))}";
}

/// <summary>
/// Malformed requests generated from a seed, so a failure names a request that the next run sends again. Each starts
/// from a well-formed request of its operation and breaks it: wrong types and extreme values per member, strings of
/// invalid UTF-8 or lone surrogates, truncation, stray bytes, nesting, and the same in CBOR (integers past 64 bits,
/// NaN, tags, indefinite lengths, invalid text).
/// </summary>
public sealed class FuzzCorpus(int seed, string stream, string streamArn, string consumerArn)
{
    private readonly Random _random = new(seed);

    public static readonly string[] Operations =
    [
        "PutRecord", "PutRecords", "GetShardIterator", "GetRecords", "CreateStream", "DeleteStream", "DescribeStream",
        "DescribeStreamSummary", "ListStreams", "ListShards", "IncreaseStreamRetentionPeriod", "DecreaseStreamRetentionPeriod",
        "AddTagsToStream", "RemoveTagsFromStream", "ListTagsForStream", "TagResource", "UntagResource", "ListTagsForResource",
        "DescribeLimits", "UpdateMaxRecordSize", "SplitShard", "MergeShards", "UpdateShardCount", "UpdateStreamMode",
        "RegisterStreamConsumer", "DeregisterStreamConsumer", "DescribeStreamConsumer", "ListStreamConsumers", "SubscribeToShard",
    ];

    /// <summary>Member values of a well-formed request per operation (deletions and reshards aim at a scratch stream).</summary>
    private Dictionary<string, object?> Valid(string operation)
    {
        var scratch = "fz-" + _random.Next(1000);
        return operation switch
        {
            "PutRecord" => new() { ["StreamName"] = stream, ["PartitionKey"] = "k", ["Data"] = "AAEC", ["ExplicitHashKey"] = "1" },
            "PutRecords" => new() { ["StreamName"] = stream, ["Records"] = new List<object?> { new Dictionary<string, object?> { ["PartitionKey"] = "k", ["Data"] = "AA==" } } },
            "GetShardIterator" => new() { ["StreamName"] = stream, ["ShardId"] = "shardId-000000000000", ["ShardIteratorType"] = "AT_TIMESTAMP", ["Timestamp"] = 1.7e9, ["StartingSequenceNumber"] = "1" },
            "GetRecords" => new() { ["ShardIterator"] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", ["Limit"] = 10 },
            "CreateStream" => new() { ["StreamName"] = scratch, ["ShardCount"] = 1, ["StreamModeDetails"] = new Dictionary<string, object?> { ["StreamMode"] = "PROVISIONED" }, ["Tags"] = new Dictionary<string, object?> { ["a"] = "b" } },
            "DeleteStream" => new() { ["StreamName"] = scratch, ["EnforceConsumerDeletion"] = true },
            "DescribeStream" => new() { ["StreamName"] = stream, ["Limit"] = 5, ["ExclusiveStartShardId"] = "shardId-000000000000" },
            "ListStreams" => new() { ["Limit"] = 5, ["ExclusiveStartStreamName"] = "a", ["NextToken"] = "abc" },
            "ListShards" => new() { ["StreamName"] = stream, ["MaxResults"] = 5, ["ShardFilter"] = new Dictionary<string, object?> { ["Type"] = "AT_TIMESTAMP", ["Timestamp"] = 1.7e9 } },
            "IncreaseStreamRetentionPeriod" or "DecreaseStreamRetentionPeriod" => new() { ["StreamName"] = stream, ["RetentionPeriodHours"] = 24 },
            "AddTagsToStream" => new() { ["StreamName"] = stream, ["Tags"] = new Dictionary<string, object?> { ["t"] = "v" } },
            "RemoveTagsFromStream" => new() { ["StreamName"] = stream, ["TagKeys"] = new List<object?> { "t" } },
            "TagResource" => new() { ["ResourceARN"] = streamArn, ["Tags"] = new Dictionary<string, object?> { ["t"] = "v" } },
            "UntagResource" => new() { ["ResourceARN"] = streamArn, ["TagKeys"] = new List<object?> { "t" } },
            "ListTagsForResource" => new() { ["ResourceARN"] = streamArn },
            "UpdateMaxRecordSize" => new() { ["StreamARN"] = streamArn, ["MaxRecordSizeInKiB"] = 1024 },
            "SplitShard" => new() { ["StreamName"] = scratch, ["ShardToSplit"] = "shardId-000000000000", ["NewStartingHashKey"] = "1" },
            "MergeShards" => new() { ["StreamName"] = scratch, ["ShardToMerge"] = "shardId-000000000000", ["AdjacentShardToMerge"] = "shardId-000000000001" },
            "UpdateShardCount" => new() { ["StreamName"] = scratch, ["TargetShardCount"] = 2, ["ScalingType"] = "UNIFORM_SCALING" },
            "UpdateStreamMode" => new() { ["StreamARN"] = streamArn, ["StreamModeDetails"] = new Dictionary<string, object?> { ["StreamMode"] = "PROVISIONED" } },
            "RegisterStreamConsumer" or "DescribeStreamConsumer" or "DeregisterStreamConsumer" => new() { ["StreamARN"] = streamArn, ["ConsumerName"] = "fz" + _random.Next(5) },
            "ListStreamConsumers" => new() { ["StreamARN"] = streamArn, ["MaxResults"] = 5 },
            "SubscribeToShard" => new() { ["ConsumerARN"] = consumerArn, ["ShardId"] = "shardId-000000000007", ["StartingPosition"] = new Dictionary<string, object?> { ["Type"] = "AT_TIMESTAMP", ["Timestamp"] = 1.7e9 } },
            _ => new() { ["StreamName"] = stream },
        };
    }

    /// <summary>Values that are wrong for some member: types, extremes, encodings.</summary>
    private object? BadValue() => _random.Next(22) switch
    {
        0 => null,
        1 => true,
        2 => new Dictionary<string, object?> { ["x"] = 1 },
        3 => new List<object?> { 1, "a", null },
        4 => long.MaxValue,
        5 => -1L,
        6 => 1e308,
        7 => -1e308,
        8 => new RawJson("1e400"),
        9 => new RawJson("18446744073709551616"),
        10 => new RawJson("-0.0000000000000000000001"),
        11 => new string('a', _random.Next(1, 5000)),
        12 => "",
        13 => new RawJson("\"\\ud800\""),
        14 => new RawJson("\"a\\udc00b\""),
        15 => new RawUtf8([0x22, 0xC3, 0x28, 0x22]),
        16 => new RawUtf8([0x22, 0xED, 0xA0, 0x80, 0x22]),
        17 => new RawUtf8([0x22, 0xF8, 0x88, 0x80, 0x80, 0x80, 0x22]),
        18 => "shardId-" + new string('9', _random.Next(1, 40)),
        19 => "arn:aws:kinesis:us-east-1:000000000000:stream/" + new string('x', _random.Next(0, 300)),
        20 => double.NaN,
        _ => Nest(_random.Next(10, 200)),
    };

    private static object? Nest(int depth)
    {
        object? value = 1;
        for (var i = 0; i < depth; i++)
            value = new List<object?> { value };
        return value;
    }

    private sealed record RawJson(string Text);

    private sealed record RawUtf8(byte[] Bytes);

    public IEnumerable<FuzzRequest> Generate(int count)
    {
        for (var i = 0; i < count; i++)
        {
            var operation = Operations[_random.Next(Operations.Length)];
            var members = Valid(operation);
            Mutate(members);
            var roll = _random.Next(100);
            if (roll < 55)
                yield return new FuzzRequest("json", operation, "application/x-amz-json-1.1", Damage(Json(members)));
            else if (roll < 85)
                yield return new FuzzRequest("cbor", operation, "application/x-amz-cbor-1.1", DamageCbor(Cbor(members)));
            else if (roll < 93)
            {
                var record = new Dictionary<string, object?> { ["partitionKey"] = "k", ["data"] = "AA==", ["value"] = new Dictionary<string, object?> { ["a"] = 1 } };
                Mutate(record);
                yield return new FuzzRequest("rest", "records", "application/json", Damage(Json(_random.Next(2) == 0 ? record : new List<object?> { record, record })), $"/v1/streams/{stream}/records");
            }
            else
            {
                var mapping = new Dictionary<string, object?>
                {
                    ["EventSourceArn"] = streamArn, ["FunctionName"] = HardeningFixture.UnreachableFunction, ["StartingPosition"] = "AT_TIMESTAMP",
                    ["StartingPositionTimestamp"] = 1.7e9, ["BatchSize"] = 10, ["Enabled"] = false,
                };
                Mutate(mapping);
                yield return new FuzzRequest("mapping", "CreateEventSourceMapping", "application/json", Damage(Json(mapping)), "/2015-03-31/event-source-mappings/");
            }
        }
    }

    private void Mutate(Dictionary<string, object?> members)
    {
        var changes = 1 + _random.Next(3);
        for (var c = 0; c < changes && members.Count > 0; c++)
        {
            var key = members.Keys.ElementAt(_random.Next(members.Count));
            switch (_random.Next(6))
            {
                case 0:
                    members.Remove(key);
                    break;
                case 1 when members[key] is Dictionary<string, object?> inner && inner.Count > 0:
                    Mutate(inner);
                    break;
                case 2 when members[key] is List<object?> { Count: > 0 } list && list[0] is Dictionary<string, object?> item:
                    Mutate(item);
                    break;
                default:
                    members[key] = BadValue();
                    break;
            }
        }
        if (_random.Next(8) == 0)
            members[_random.Next(2) == 0 ? "Unknown" : "\\u0000"] = BadValue();
    }

    /// <summary>Breaks the encoded bytes now and then: a cut, a flipped byte, a stray insert.</summary>
    private byte[] Damage(byte[] body)
    {
        switch (_random.Next(10))
        {
            case 0 when body.Length > 1:
                return body[.._random.Next(body.Length)];
            case 1 when body.Length > 0:
                var flipped = (byte[])body.Clone();
                flipped[_random.Next(flipped.Length)] ^= (byte)(1 << _random.Next(8));
                return flipped;
            case 2:
                var at = _random.Next(body.Length + 1);
                return [.. body[..at], (byte)_random.Next(256), .. body[at..]];
            case 3:
                return [];
            default:
                return body;
        }
    }

    private byte[] DamageCbor(byte[] body) => _random.Next(4) == 0 ? Damage(body) : body;

    private static byte[] Json(object? value)
    {
        var output = new MemoryStream();
        WriteJson(output, value);
        return output.ToArray();
    }

    private static void WriteJson(MemoryStream o, object? value)
    {
        switch (value)
        {
            case null:
                o.Write("null"u8);
                break;
            case bool b:
                o.Write(b ? "true"u8 : "false"u8);
                break;
            case long or int:
                o.Write(Encoding.ASCII.GetBytes(Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture)!));
                break;
            case double d:
                // JSON has no NaN: the nearest a client can send is the bare word.
                o.Write(double.IsNaN(d) ? "NaN"u8 : Encoding.ASCII.GetBytes(d.ToString("R", System.Globalization.CultureInfo.InvariantCulture)));
                break;
            case string s:
                o.Write(Encoding.UTF8.GetBytes(System.Text.Json.JsonSerializer.Serialize(s)));
                break;
            case RawJson raw:
                o.Write(Encoding.UTF8.GetBytes(raw.Text));
                break;
            case RawUtf8 raw:
                o.Write(raw.Bytes);
                break;
            case Dictionary<string, object?> map:
                o.WriteByte((byte)'{');
                var first = true;
                foreach (var (k, v) in map)
                {
                    if (!first)
                        o.WriteByte((byte)',');
                    first = false;
                    o.Write(Encoding.UTF8.GetBytes(k.StartsWith('\\') ? $"\"{k}\"" : System.Text.Json.JsonSerializer.Serialize(k)));
                    o.WriteByte((byte)':');
                    WriteJson(o, v);
                }
                o.WriteByte((byte)'}');
                break;
            case List<object?> list:
                o.WriteByte((byte)'[');
                for (var i = 0; i < list.Count; i++)
                {
                    if (i > 0)
                        o.WriteByte((byte)',');
                    WriteJson(o, list[i]);
                }
                o.WriteByte((byte)']');
                break;
        }
    }

    private byte[] Cbor(object? value)
    {
        var w = new CborWriter(CborConformanceMode.Lax, convertIndefiniteLengthEncodings: false, allowMultipleRootLevelValues: true);
        WriteCbor(w, value);
        var bytes = SwapBadText(w.Encode());
        return _random.Next(20) == 0 ? [.. bytes, 0x00] : bytes;
    }

    private const string BadTextMarker = "\u007Fbad\u007F";

    private byte[] _badText = [];

    /// <summary>Replaces each encoded marker (a 5-byte text string) with a text string of the invalid bytes.</summary>
    private byte[] SwapBadText(byte[] bytes)
    {
        byte[] marker = [0x65, .. Encoding.UTF8.GetBytes(BadTextMarker)];
        byte[] bad = [(byte)(0x60 | _badText.Length), .. _badText];
        var output = new List<byte>(bytes.Length);
        for (var i = 0; i < bytes.Length; i++)
        {
            if (i + marker.Length <= bytes.Length && bytes.AsSpan(i, marker.Length).SequenceEqual(marker))
            {
                output.AddRange(bad);
                i += marker.Length - 1;
            }
            else
            {
                output.Add(bytes[i]);
            }
        }
        return [.. output];
    }

    private void WriteCbor(CborWriter w, object? value)
    {
        switch (value)
        {
            case null:
                if (_random.Next(2) == 0) w.WriteNull(); else w.WriteSimpleValue(CborSimpleValue.Undefined);
                break;
            case bool b:
                w.WriteBoolean(b);
                break;
            case long or int:
                var n = Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture);
                switch (_random.Next(6))
                {
                    case 0: w.WriteUInt64(ulong.MaxValue - (ulong)_random.Next(10)); break;
                    case 1: w.WriteCborNegativeIntegerRepresentation(ulong.MaxValue); break;
                    case 2: w.WriteTag(CborTag.UnixTimeSeconds); w.WriteInt64(n); break;
                    default: w.WriteInt64(n); break;
                }
                break;
            case double d:
                switch (_random.Next(6))
                {
                    case 0: w.WriteDouble(double.NaN); break;
                    case 1: w.WriteSingle(float.PositiveInfinity); break;
                    case 2: w.WriteHalf(Half.NegativeInfinity); break;
                    case 3: w.WriteTag(CborTag.UnixTimeSeconds); w.WriteDouble(d); break;
                    default: w.WriteDouble(d); break;
                }
                break;
            case string s when _random.Next(8) == 0:
                w.WriteByteString(Encoding.UTF8.GetBytes(s));
                break;
            case string s when _random.Next(8) == 0:
                w.WriteStartIndefiniteLengthTextString();
                w.WriteTextString(s);
                w.WriteTextString(s);
                w.WriteEndIndefiniteLengthTextString();
                break;
            case string s:
                w.WriteTextString(s);
                break;
            case RawJson raw:
                w.WriteTextString(raw.Text);
                break;
            case RawUtf8 raw:
                // The writer refuses text that is not UTF-8: a marker goes in and is swapped for the bytes afterwards.
                _badText = raw.Bytes[1..^1];
                w.WriteTextString(BadTextMarker);
                break;
            case Dictionary<string, object?> map:
                w.WriteStartMap(_random.Next(6) == 0 ? null : map.Count);
                foreach (var (k, v) in map)
                {
                    if (_random.Next(30) == 0) w.WriteInt32(7); else w.WriteTextString(k);
                    WriteCbor(w, v);
                }
                w.WriteEndMap();
                break;
            case List<object?> list:
                w.WriteStartArray(_random.Next(6) == 0 ? null : list.Count);
                foreach (var item in list)
                    WriteCbor(w, item);
                w.WriteEndArray();
                break;
        }
    }
}
