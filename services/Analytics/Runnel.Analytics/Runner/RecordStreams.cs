using Microsoft.EntityFrameworkCore;
using Runnel.Core.Streams;
using Runnel.Metadata;
using Runnel.Metadata.Entities;

namespace Runnel.Analytics.Runner;

/// <summary>An input or output ARN that names no stream the application can use; the message is for the caller.</summary>
public sealed class RecordStreamException(string message) : InvalidOperationException(message);

/// <summary>
/// The data stream behind an application's input or output ARN. A Kinesis stream ARN is that stream. A delivery stream
/// ARN (KinesisFirehoseInput, KinesisFirehoseOutput) is the stream its records pass through: the user's stream of a
/// KinesisStreamAsSource delivery stream, the internal backing stream of a Direct PUT one. Writing into a delivery
/// stream appends to its backing stream, which is what Firehose's PutRecordBatch does, so delivery picks the records
/// up with its checkpoints; a KinesisStreamAsSource delivery stream takes no writes, as in Firehose.
/// </summary>
public static class RecordStreams
{
    public static async Task<StreamEntity> ResolveAsync(MetadataDbContext db, string arn, bool forWrite, CancellationToken ct)
    {
        if (Arns.TryParseStream(arn, out var name))
        {
            return await db.Streams.AsNoTracking().FirstOrDefaultAsync(s => s.Name == name && s.Status != StreamStatuses.Deleting, ct).ConfigureAwait(false)
                ?? throw new RecordStreamException($"Kinesis stream {arn} does not exist.");
        }
        if (Arns.TryParseDeliveryStream(arn, out var deliveryStream))
        {
            var d = await db.DeliveryStreams.AsNoTracking().FirstOrDefaultAsync(x => x.Name == deliveryStream, ct).ConfigureAwait(false)
                ?? throw new RecordStreamException($"Delivery stream {arn} does not exist.");
            if (forWrite && d.Type != DeliveryStreamTypes.DirectPut)
                throw new RecordStreamException($"Delivery stream {arn} reads a Kinesis stream; only a DirectPut delivery stream takes records.");
            return await db.Streams.AsNoTracking().FirstOrDefaultAsync(s => s.Id == d.SourceStreamId && s.Status != StreamStatuses.Deleting, ct).ConfigureAwait(false)
                ?? throw new RecordStreamException($"The source of delivery stream {arn} no longer exists.");
        }
        throw new RecordStreamException($"{arn} is neither a Kinesis stream ARN nor a Firehose delivery stream ARN.");
    }
}
