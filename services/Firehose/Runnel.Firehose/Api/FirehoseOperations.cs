using System.Runtime.InteropServices;
using Runnel.Gateway;

namespace Runnel.Firehose.Api;

/// <summary>
/// Firehose's operations on the public port (<c>Firehose_20150804.*</c>): in process in Standalone, behind
/// <c>POST /v1/firehose/aws</c> when Firehose runs on its own.
/// </summary>
public sealed class FirehoseOperations(DeliveryStreamApi api) : IAwsOperations
{
    public string Service => AwsServices.Firehose.Name;
    public string TargetPrefix => AwsServices.Firehose.TargetPrefix;
    public bool Handles(string operation) => DeliveryStreamApi.Operations.Contains(operation);

    public async Task HandleAsync(AwsRequest request)
    {
        Action<Core.Wire.WireWriter>? answer;
        if (request.Operation == "PutRecordBatch")
        {
            // The gateway reads bodies into arrays from their start, where records are decoded in place; any other
            // body is copied once.
            var (array, length) = MemoryMarshal.TryGetArray(request.Body, out var body) && body.Offset == 0
                ? (body.Array!, body.Count)
                : (request.Body.ToArray(), request.Body.Length);
            answer = await api.PutRecordBatchAsync(array, length, request.Format, request.Aborted).ConfigureAwait(false);
        }
        else
        {
            using var document = request.ReadDocument();
            answer = await api.InvokeAsync(request.Operation, document.RootElement, request.Aborted).ConfigureAwait(false);
        }
        if (answer is null)
            await AwsAnswers.WriteEmptyAsync(request).ConfigureAwait(false);
        else
            await AwsAnswers.WriteAsync(request, answer).ConfigureAwait(false);
    }
}
