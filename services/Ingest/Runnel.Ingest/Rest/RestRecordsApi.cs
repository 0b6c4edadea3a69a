using System.Text;
using System.Text.Json;
using Runnel.Core.Errors;
using Runnel.Core.Streams;
using Runnel.Gateway;
using Runnel.Ingest.Operations;
using Runnel.Ingest.Protocol;

namespace Runnel.Ingest.Rest;

/// <summary>
/// <c>POST /v1/streams/{name}/records</c>: a plain JSON route for producers without an AWS SDK.
/// The body is one record or an array of up to 500; a record is
/// <c>{"partitionKey": "...", "data": "&lt;base64&gt;"}</c> or <c>{"partitionKey": "...", "value": &lt;any JSON&gt;}</c>
/// (stored as the UTF-8 text of that JSON value), with an optional <c>explicitHashKey</c>. The answer
/// lists <c>{"shardId", "sequenceNumber"}</c> per record in order; a record that failed carries
/// <c>errorCode</c> and <c>errorMessage</c> instead. Errors use the Kinesis shape.
/// </summary>
internal static class RestRecordsApi
{
    public static async Task HandleAsync(HttpContext http, string name, KinesisDataPlane api)
    {
        http.Items[typeof(WireFormat)] = "application/json";
        try
        {
            var v = new Violations();
            v.StreamName(name);
            v.ThrowIfAny();
            var records = await ReadAsync(http);
            var batch = await api.PutBatchAsync(name, records, http.RequestAborted);
            await WriteAsync(http, batch, records.Count);
        }
        catch (KinesisException e)
        {
            if (!http.Response.HasStarted)
                await AwsAnswers.WriteErrorAsync(http, WireFormat.Json, e.Type, e.Message, e.StatusCode);
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(RestRecordsApi)).LogError(e, "Unhandled fault in {Path}", http.Request.Path);
            if (!http.Response.HasStarted)
                await AwsAnswers.WriteErrorAsync(http, WireFormat.Json, ErrorTypes.InternalFailure, "Internal service failure.", 500);
        }
    }

    /// <summary>The records of the body; anything malformed (framing, JSON, UTF-8) is the client's error.</summary>
    private static async Task<List<KinesisDataPlane.RecordInput>> ReadAsync(HttpContext http)
    {
        try
        {
            using var document = await JsonDocument.ParseAsync(http.Request.Body, default, http.RequestAborted);
            return Parse(document.RootElement);
        }
        catch (Exception e) when (MalformedInput.Is(e))
        {
            throw KinesisException.Serialization("The body is not valid JSON.");
        }
        catch (BadHttpRequestException e)
        {
            throw new KinesisException(ErrorTypes.Serialization, e.Message, e.StatusCode);
        }
        catch (IOException e) when (!http.RequestAborted.IsCancellationRequested)
        {
            throw new KinesisException(ErrorTypes.Serialization, e.Message, 400);
        }
    }

    private static List<KinesisDataPlane.RecordInput> Parse(JsonElement root)
    {
        var items = root.ValueKind switch
        {
            JsonValueKind.Array => root.EnumerateArray().ToList(),
            JsonValueKind.Object => [root],
            _ => throw KinesisException.Serialization("Expected a record object or an array of records."),
        };
        var v = new Violations();
        v.ListLength("records", Violations.StructureTexts("PutRecordsRequestEntry", items.Count), 1, 500);
        v.ThrowIfAny();
        var records = new List<KinesisDataPlane.RecordInput>(items.Count);
        for (var i = 0; i < items.Count; i++)
        {
            var item = items[i];
            if (item.ValueKind != JsonValueKind.Object)
                throw KinesisException.Serialization($"Record {i + 1} is not a JSON object.");
            var record = new KinesisDataPlane.RecordInput();
            var hasData = false;
            var hasValue = false;
            foreach (var member in item.EnumerateObject())
            {
                switch (member.Name)
                {
                    case "partitionKey":
                        record.PartitionKey = member.Value.ValueKind == JsonValueKind.String ? member.Value.GetString()
                            : throw KinesisException.Serialization($"records.{i + 1}.partitionKey must be a string.");
                        break;
                    case "explicitHashKey":
                        record.ExplicitHashKey = member.Value.ValueKind == JsonValueKind.String ? member.Value.GetString()
                            : throw KinesisException.Serialization($"records.{i + 1}.explicitHashKey must be a string.");
                        break;
                    case "data":
                        hasData = true;
                        if (member.Value.ValueKind != JsonValueKind.String || !member.Value.TryGetBytesFromBase64(out var bytes))
                            throw KinesisException.Serialization($"records.{i + 1}.data must be a base64 string.");
                        record.Data = bytes;
                        break;
                    case "value":
                        hasValue = true;
                        record.Data = Encoding.UTF8.GetBytes(member.Value.GetRawText());
                        break;
                }
            }
            if (hasData && hasValue)
                throw KinesisException.InvalidArgument($"Record {i + 1} has both data and value; give one.");
            var prefix = $"records.{i + 1}.member.";
            v.NotNull(prefix + "partitionKey", record.PartitionKey);
            v.Length(prefix + "partitionKey", record.PartitionKey, 1, 256);
            if (record.Data is null)
                v.NotNull(prefix + "data", null);
            v.Pattern(prefix + "explicitHashKey", record.ExplicitHashKey, Violations.HashKeyPattern, Violations.IsHashKeyText);
            records.Add(record);
        }
        v.ThrowIfAny();
        return records;
    }

    private static async Task WriteAsync(HttpContext http, KinesisDataPlane.Batch batch, int count)
    {
        var buffer = new PooledBufferWriter(64 + count * 128);
        try
        {
            using (var json = new Utf8JsonWriter(buffer))
            {
                json.WriteStartArray();
                for (var i = 0; i < count; i++)
                {
                    json.WriteStartObject();
                    if (batch.ErrorCode[i] is { } code)
                    {
                        json.WriteString("errorCode", code);
                        json.WriteString("errorMessage", batch.ErrorMessage[i]);
                    }
                    else
                    {
                        json.WriteString("shardId", ShardIds.Format(batch.ShardIndex[i]));
                        json.WriteString("sequenceNumber", new SequenceNumber(batch.ShardIndex[i], batch.Ordinal[i]).ToString());
                    }
                    json.WriteEndObject();
                }
                json.WriteEndArray();
            }
            await AwsAnswers.WriteBodyAsync(http, WireFormat.Json, buffer.WrittenMemory, 200);
        }
        finally
        {
            buffer.Dispose();
        }
    }
}
