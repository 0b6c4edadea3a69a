using System.Buffers;
using System.Formats.Cbor;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Runnel.Core.Errors;
using Runnel.Core.Wire;

namespace Runnel.Gateway;

/// <summary>The wire steps every AWS operation shares, wherever it is served: reading the body and answering faults.</summary>
public static class AwsGateway
{
    /// <summary>
    /// Largest accepted body: a 10 MiB PutRecords batch is about 14 MiB once base64-encoded, and a
    /// single record may be 10 MiB (UpdateMaxRecordSize), so 20 MiB leaves room for the envelope.
    /// </summary>
    public const int MaxBodyBytes = 20 * 1024 * 1024;

    /// <summary>The header a forwarding gateway names the authenticated principal in (internal routes only).</summary>
    public const string PrincipalHeader = "X-Runnel-Principal";

    /// <summary>Reads the whole body into one pooled array; the caller returns it to <see cref="ArrayPool{T}.Shared"/>.</summary>
    public static async Task<(byte[] Buffer, int Length)> ReadBodyAsync(HttpContext http)
    {
        var declared = http.Request.ContentLength;
        if (declared > MaxBodyBytes)
            throw new KinesisException(ErrorTypes.Serialization, $"The request body exceeds {MaxBodyBytes} bytes.", 413);
        var buffer = ArrayPool<byte>.Shared.Rent(declared is > 0 ? (int)declared.Value : 4096);
        var length = 0;
        var reader = http.Request.BodyReader;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync(http.RequestAborted).ConfigureAwait(false);
                var data = result.Buffer;
                if (length + data.Length > MaxBodyBytes)
                    throw new KinesisException(ErrorTypes.Serialization, $"The request body exceeds {MaxBodyBytes} bytes.", 413);
                if (length + data.Length > buffer.Length)
                {
                    var bigger = ArrayPool<byte>.Shared.Rent((int)Math.Max(buffer.Length * 2L, length + data.Length));
                    buffer.AsSpan(0, length).CopyTo(bigger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = bigger;
                }
                data.CopyTo(buffer.AsSpan(length));
                length += (int)data.Length;
                reader.AdvanceTo(data.End);
                if (result.IsCompleted)
                    break;
            }
            return (buffer, length);
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
    }

    /// <summary>
    /// Runs <paramref name="call"/> and turns what it throws into AWS's answers: a <see cref="KinesisException"/> as
    /// itself, a body the parsers refused as SerializationException, anything else as a logged InternalFailure. Nothing
    /// is written once the answer has started (a streamed answer ends where it broke).
    /// </summary>
    public static async Task GuardAsync(HttpContext http, WireFormat format, string operation, ILogger logger, Func<Task> call)
    {
        try
        {
            try
            {
                await call().ConfigureAwait(false);
            }
            catch (Exception e) when (e is JsonException or CborContentException or FormatException
                || (e is InvalidOperationException && e.Source == "System.Formats.Cbor"))
            {
                throw KinesisException.Serialization(e is JsonException ? "Malformed JSON request body." : "Malformed CBOR request body.");
            }
        }
        catch (KinesisException e)
        {
            if (!http.Response.HasStarted)
                await AwsAnswers.WriteErrorAsync(http, format, e.Type, e.Message, e.StatusCode).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            // The client went away; there is nobody to answer.
        }
        catch (Exception e)
        {
            logger.LogError(e, "Unhandled fault in {Operation}", operation);
            if (!http.Response.HasStarted)
                await AwsAnswers.WriteErrorAsync(http, format, ErrorTypes.InternalFailure, "Internal service failure.", 500).ConfigureAwait(false);
        }
    }

    /// <summary>Reads the body and runs <paramref name="handler"/> on it, guarded; the pooled body is returned after.</summary>
    public static async Task InvokeAsync(HttpContext http, IAwsOperations handler, string operation, WireFormat format, Func<ReadOnlyMemory<byte>, ValueTask<string>> authenticate, ILogger logger)
    {
        byte[]? body = null;
        try
        {
            await GuardAsync(http, format, operation, logger, async () =>
            {
                var length = 0;
                (body, length) = await ReadBodyAsync(http).ConfigureAwait(false);
                var memory = body.AsMemory(0, length);
                var principal = await authenticate(memory).ConfigureAwait(false);
                await handler.HandleAsync(new AwsRequest(http, operation, memory, format, principal)).ConfigureAwait(false);
            }).ConfigureAwait(false);
        }
        finally
        {
            if (body is not null)
                ArrayPool<byte>.Shared.Return(body);
        }
    }
}
