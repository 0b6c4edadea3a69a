using Runnel.Ingest.Protocol;

namespace Runnel.Ingest.Operations;

/// <summary>
/// The members every control-plane and tagging request may carry, read in one pass (unknown members are ignored,
/// members of the wrong type are SerializationException).
/// </summary>
internal sealed class ControlRequest
{
    public string? StreamName, StreamArn, ResourceArn, ExclusiveStartShardId, ExclusiveStartStreamName, ExclusiveStartTagKey, NextToken, StreamMode;
    public long? ShardCount, Limit, MaxResults, RetentionPeriodHours, MaxRecordSizeInKiB, StreamCreationTimestamp;
    public bool? EnforceConsumerDeletion;
    public Dictionary<string, string>? Tags;
    public List<string>? TagKeys;
    public string? FilterType, FilterShardId;
    public long? FilterTimestamp;
    public bool HasShardFilter;

    public static ControlRequest Parse(ApiCall call)
    {
        var q = new ControlRequest();
        var r = call.Reader();
        r.ReadRequestStart();
        while (r.TryReadPropertyName(out var m))
        {
            if (m.SequenceEqual("StreamName"u8)) q.StreamName = r.ReadString();
            else if (m.SequenceEqual("StreamARN"u8)) q.StreamArn = r.ReadString();
            else if (m.SequenceEqual("ResourceARN"u8)) q.ResourceArn = r.ReadString();
            else if (m.SequenceEqual("ShardCount"u8)) q.ShardCount = r.ReadInteger();
            else if (m.SequenceEqual("Limit"u8)) q.Limit = r.ReadInteger();
            else if (m.SequenceEqual("MaxResults"u8)) q.MaxResults = r.ReadInteger();
            else if (m.SequenceEqual("RetentionPeriodHours"u8)) q.RetentionPeriodHours = r.ReadInteger();
            else if (m.SequenceEqual("MaxRecordSizeInKiB"u8)) q.MaxRecordSizeInKiB = r.ReadInteger();
            else if (m.SequenceEqual("ExclusiveStartShardId"u8)) q.ExclusiveStartShardId = r.ReadString();
            else if (m.SequenceEqual("ExclusiveStartStreamName"u8)) q.ExclusiveStartStreamName = r.ReadString();
            else if (m.SequenceEqual("ExclusiveStartTagKey"u8)) q.ExclusiveStartTagKey = r.ReadString();
            else if (m.SequenceEqual("NextToken"u8)) q.NextToken = r.ReadString();
            else if (m.SequenceEqual("EnforceConsumerDeletion"u8)) q.EnforceConsumerDeletion = r.ReadBoolean();
            else if (m.SequenceEqual("StreamCreationTimestamp"u8)) q.StreamCreationTimestamp = r.ReadTimestamp();
            else if (m.SequenceEqual("StreamModeDetails"u8))
            {
                if (r.ReadStartObject())
                    while (r.TryReadPropertyName(out var f))
                        if (f.SequenceEqual("StreamMode"u8)) q.StreamMode = r.ReadString();
                        else r.Skip();
            }
            else if (m.SequenceEqual("ShardFilter"u8))
            {
                if (r.ReadStartObject())
                {
                    q.HasShardFilter = true;
                    while (r.TryReadPropertyName(out var f))
                        if (f.SequenceEqual("Type"u8)) q.FilterType = r.ReadString();
                        else if (f.SequenceEqual("ShardId"u8)) q.FilterShardId = r.ReadString();
                        else if (f.SequenceEqual("Timestamp"u8)) q.FilterTimestamp = r.ReadTimestamp();
                        else r.Skip();
                }
            }
            else if (m.SequenceEqual("Tags"u8))
            {
                if (r.ReadStartMap())
                {
                    q.Tags = new Dictionary<string, string>(StringComparer.Ordinal);
                    while (r.TryReadMapKey(out var key))
                        q.Tags[key] = r.ReadString() ?? "";
                }
            }
            else if (m.SequenceEqual("TagKeys"u8))
            {
                if (r.ReadStartArray())
                {
                    q.TagKeys = [];
                    while (r.TryReadArrayItem())
                        q.TagKeys.Add(r.ReadString() ?? "");
                }
            }
            else r.Skip();
        }
        r.ReadRequestEnd();
        return q;
    }
}
