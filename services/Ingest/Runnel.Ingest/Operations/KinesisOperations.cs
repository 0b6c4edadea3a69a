using Microsoft.EntityFrameworkCore;
using Runnel.Core.Errors;
using Runnel.Gateway;
using Runnel.Ingest.Protocol;

namespace Runnel.Ingest.Operations;

/// <summary>
/// A group of <c>Kinesis_20131202.*</c> operations run on the public endpoint's pooled request body. Each one parses
/// its request in one pass (type errors are SerializationException), validates every member into one
/// ValidationException, checks the stream's state, and only then changes anything, so bad input never has an effect.
/// </summary>
internal interface IKinesisOperations
{
    bool Handles(string operation);

    Task HandleAsync(string operation, ApiCall call);
}

/// <summary>
/// Kinesis's stream operations (data plane, control plane, resharding), registered with the gateway's
/// <see cref="AwsOperationTable"/> like every other service's. Adding an operation touches its group's handler and, for a
/// new group, this list. Kinesis operations served elsewhere (consumers, encryption, resource policies) are handlers of
/// their own in the same table.
/// </summary>
internal sealed class KinesisOperations(KinesisDataPlane dataPlane, KinesisControlPlane controlPlane, KinesisTagging tagging, KinesisResharding resharding,
    KinesisStreams streams)
    : IAwsOperations
{
    // The data plane first: it serves nearly every call.
    private readonly IKinesisOperations[] _handlers = [dataPlane, controlPlane, tagging, resharding];

    public string Service => "kinesis";

    public string TargetPrefix => AwsServices.KinesisPrefix;

    public bool Handles(string operation) => Find(operation) is not null;

    public string NameOf(ReadOnlySpan<char> operation) => operation switch
    {
        "PutRecord" => "PutRecord",
        "PutRecords" => "PutRecords",
        "GetRecords" => "GetRecords",
        "GetShardIterator" => "GetShardIterator",
        _ => operation.ToString(),
    };

    public async Task HandleAsync(AwsRequest request)
    {
        var handler = Find(request.Operation) ?? throw Unknown(request.Operation);
        try
        {
            await handler.HandleAsync(request.Operation, new ApiCall(request));
        }
        catch (DbUpdateConcurrencyException)
        {
            // Two control-plane writes to one stream: the row's version changed between this call's read and its write,
            // and nothing of this call was kept. AWS answers a change that races another with ResourceInUseException.
            throw KinesisException.ResourceInUse($"The stream was changed by another request at the same time under account {streams.Account}; retry the request.");
        }
    }

    internal static KinesisException Unknown(string operation) =>
        new(ErrorTypes.UnknownOperation, $"Operation {operation} is not supported.");

    private IKinesisOperations? Find(string operation)
    {
        foreach (var handler in _handlers)
            if (handler.Handles(operation))
                return handler;
        return null;
    }
}
