using System.Buffers;
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

    /// <summary>
    /// Bodies up to this size come from the shared pool; larger ones are allocated for the call and left to the
    /// collector. The shared pool keeps what it is given per core and size class, so 32 concurrent 20 MiB bodies
    /// once kept 1.5 GB after the load was gone.
    /// </summary>
    private const int PooledBodyBytes = 1024 * 1024;

    private static byte[] RentBody(int size) =>
        size <= PooledBodyBytes ? ArrayPool<byte>.Shared.Rent(size) : GC.AllocateUninitializedArray<byte>(size);

    /// <summary>Gives back a body <see cref="ReadBodyAsync"/> returned.</summary>
    public static void ReturnBody(byte[] body)
    {
        if (body.Length <= PooledBodyBytes)
            ArrayPool<byte>.Shared.Return(body);
    }

    /// <summary>
    /// Reads the whole body into one array (the caller gives it back with <see cref="ReturnBody"/>). Broken framing
    /// (malformed chunks, a body shorter than its Content-Length, a client too slow) is the client's error.
    /// </summary>
    public static async Task<(byte[] Buffer, int Length)> ReadBodyAsync(HttpContext http)
    {
        var declared = http.Request.ContentLength;
        if (declared > MaxBodyBytes)
            throw new KinesisException(ErrorTypes.Serialization, $"The request body exceeds {MaxBodyBytes} bytes.", 413);
        var buffer = RentBody(declared is > 0 ? (int)declared.Value : 4096);
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
                    var bigger = RentBody((int)Math.Min(MaxBodyBytes, Math.Max(buffer.Length * 2L, length + data.Length)));
                    buffer.AsSpan(0, length).CopyTo(bigger);
                    ReturnBody(buffer);
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
        catch (BadHttpRequestException e)
        {
            ReturnBody(buffer);
            throw new KinesisException(ErrorTypes.Serialization, e.Message, e.StatusCode);
        }
        catch (IOException e) when (!http.RequestAborted.IsCancellationRequested)
        {
            // Kestrel reports some broken chunk framing ("Bad chunk size data.") as a plain IOException.
            ReturnBody(buffer);
            throw new KinesisException(ErrorTypes.Serialization, e.Message, 400);
        }
        catch
        {
            ReturnBody(buffer);
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
            catch (Exception e) when (MalformedInput.Is(e))
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

    /// <summary>Authenticates a request whose body was read and runs <paramref name="handler"/> on it, guarded.</summary>
    public static Task InvokeAsync(HttpContext http, IAwsOperations handler, string operation, WireFormat format, ReadOnlyMemory<byte> body,
        Func<ReadOnlyMemory<byte>, ValueTask<string>> authenticate, ILogger logger) =>
        GuardAsync(http, format, operation, logger, async () =>
        {
            var principal = await authenticate(body).ConfigureAwait(false);
            await handler.HandleAsync(new AwsRequest(http, operation, body, format, principal)).ConfigureAwait(false);
        });
}
