using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using Runnel.Core.Storage;
using Runnel.ShardStore.Client.Wire;
using Runnel.ShardStore.Engine;
using Runnel.ShardStore.Fencing;
using Runnel.ServiceDefaults.Internal;

namespace Runnel.ShardStore.Apis;

/// <summary>The node's internal data-plane endpoints, speaking <see cref="ShardStoreWire"/>. Served only on the internal listener.</summary>
public static class ShardStoreApi
{
    /// <summary>Largest append body accepted: a 10 MiB PutRecords batch, or one 10 MiB record, plus framing.</summary>
    private const int MaxAppendBodyBytes = 11 * 1024 * 1024;

    public static IEndpointRouteBuilder MapShardStoreApi(this IEndpointRouteBuilder app)
    {
        var shards = app.MapGroup("/" + ShardStoreWire.RoutePrefix + "/{streamId:long}/{shardIndex:int}").ExcludeFromDescription().RequireInternal();
        shards.MapPost("/open", OpenAsync);
        shards.MapPost("/append", AppendAsync);
        shards.MapGet("/read", ReadAsync);
        shards.MapGet("/state", StateAsync);
        shards.MapGet("/find", FindAsync);
        shards.MapGet("/tail", TailAsync);
        shards.MapPost("/seal", SealAsync);
        shards.MapPut("/settings", SettingsAsync);
        shards.MapDelete("/", DeleteAsync);
        return app;
    }

    private static Task OpenAsync(HttpContext http, long streamId, int shardIndex, long epoch, FencedShardStore store) =>
        GuardAsync(http, async ct =>
        {
            var body = await ReadBodyAsync(http, ShardStoreWire.SettingsSize, ct).ConfigureAwait(false);
            await store.OpenShardAsync(new ShardRef(streamId, shardIndex), epoch, ShardStoreWire.ReadSettings(body), ct).ConfigureAwait(false);
            http.Response.StatusCode = StatusCodes.Status204NoContent;
        });

    private static Task AppendAsync(HttpContext http, long streamId, int shardIndex, long epoch, FencedShardStore store) =>
        GuardAsync(http, async ct =>
        {
            var length = http.Request.ContentLength ?? throw new FormatException("Content-Length is required.");
            if (length is < 0 or > MaxAppendBodyBytes)
                throw new FormatException("Append body is too large.");
            var buffer = ArrayPool<byte>.Shared.Rent((int)length);
            try
            {
                await http.Request.Body.ReadExactlyAsync(buffer.AsMemory(0, (int)length), ct).ConfigureAwait(false);
                var records = ShardStoreWire.ReadAppendRequest(buffer.AsMemory(0, (int)length));
                // The engine copies the records into its write buffer before the append completes, so the pooled
                // body can be returned as soon as the call returns.
                var result = await store.AppendAsync(new ShardRef(streamId, shardIndex), epoch, records, ct).ConfigureAwait(false);
                var bytes = new byte[ShardStoreWire.AppendResultSize];
                ShardStoreWire.WriteAppendResult(bytes, result);
                await WriteAsync(http, bytes, ct).ConfigureAwait(false);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        });

    private static Task ReadAsync(HttpContext http, long streamId, int shardIndex, ulong from, int max, int maxBytes, FencedShardStore store) =>
        GuardAsync(http, async ct =>
        {
            var result = await store.ReadAsync(new ShardRef(streamId, shardIndex), new ReadRequest(from, max, maxBytes), ct).ConfigureAwait(false);
            http.Response.ContentType = ShardStoreWire.ContentType;
            http.Response.ContentLength = ShardStoreWire.ReadResultSize(result);
            ShardStoreWire.WriteReadResult(http.Response.BodyWriter, result);
            await http.Response.BodyWriter.FlushAsync(ct).ConfigureAwait(false);
        });

    private static Task StateAsync(HttpContext http, long streamId, int shardIndex, FencedShardStore store) =>
        GuardAsync(http, async ct =>
        {
            var state = await store.GetStateAsync(new ShardRef(streamId, shardIndex), ct).ConfigureAwait(false);
            await WriteStateAsync(http, state, ct).ConfigureAwait(false);
        });

    private static Task FindAsync(HttpContext http, long streamId, int shardIndex, long timestamp, FencedShardStore store) =>
        GuardAsync(http, async ct =>
        {
            var ordinal = await store.FindOrdinalAsync(new ShardRef(streamId, shardIndex), timestamp, ct).ConfigureAwait(false);
            var bytes = new byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(bytes, ordinal);
            await WriteAsync(http, bytes, ct).ConfigureAwait(false);
        });

    /// <summary>
    /// A streamed response of tail frames: one per movement of the shard's durable end (coalesced), a heartbeat when
    /// idle, and the response ends after a sealed frame. Errors before the first frame are answered as usual.
    /// </summary>
    private static Task TailAsync(HttpContext http, long streamId, int shardIndex, ulong from, FencedShardStore store) =>
        GuardAsync(http, async ct =>
        {
            var positions = store.WatchAsync(new ShardRef(streamId, shardIndex), from, ct).GetAsyncEnumerator(ct);
            var pending = positions.MoveNextAsync().AsTask();
            try
            {
                var last = new TailPosition(from, false);
                var frame = new byte[ShardStoreWire.TailFrameSize];
                if (pending.IsFaulted)
                    await pending.ConfigureAwait(false); // an unknown shard fails synchronously: answer it with a status code
                http.Response.ContentType = ShardStoreWire.ContentType;
                http.Response.Headers.CacheControl = "no-store";
                await http.Response.StartAsync(ct).ConfigureAwait(false);
                while (true)
                {
                    var winner = await Task.WhenAny(pending, Task.Delay(ShardStoreWire.TailHeartbeatInterval, ct)).ConfigureAwait(false);
                    bool heartbeat = winner != pending;
                    if (!heartbeat)
                    {
                        if (!await pending.ConfigureAwait(false))
                            return;
                        last = positions.Current;
                        pending = positions.MoveNextAsync().AsTask();
                    }
                    ShardStoreWire.WriteTailFrame(frame, last, heartbeat);
                    await http.Response.Body.WriteAsync(frame, ct).ConfigureAwait(false);
                    await http.Response.Body.FlushAsync(ct).ConfigureAwait(false);
                    if (!heartbeat && last.Sealed)
                        return;
                }
            }
            finally
            {
                // The iterator cannot be disposed while a MoveNext runs; the request token ends that one promptly.
                try
                {
                    await pending.ConfigureAwait(false);
                }
                catch (Exception)
                {
                }
                await positions.DisposeAsync().ConfigureAwait(false);
            }
        });

    private static Task SealAsync(HttpContext http, long streamId, int shardIndex, long epoch, FencedShardStore store) =>
        GuardAsync(http, async ct =>
        {
            var state = await store.SealShardAsync(new ShardRef(streamId, shardIndex), epoch, ct).ConfigureAwait(false);
            await WriteStateAsync(http, state, ct).ConfigureAwait(false);
        });

    private static Task SettingsAsync(HttpContext http, long streamId, int shardIndex, FencedShardStore store) =>
        GuardAsync(http, async ct =>
        {
            var body = await ReadBodyAsync(http, ShardStoreWire.SettingsSize, ct).ConfigureAwait(false);
            await store.UpdateSettingsAsync(new ShardRef(streamId, shardIndex), ShardStoreWire.ReadSettings(body), ct).ConfigureAwait(false);
            http.Response.StatusCode = StatusCodes.Status204NoContent;
        });

    private static Task DeleteAsync(HttpContext http, long streamId, int shardIndex, FencedShardStore store) =>
        GuardAsync(http, async ct =>
        {
            await store.DeleteShardAsync(new ShardRef(streamId, shardIndex), ct).ConfigureAwait(false);
            http.Response.StatusCode = StatusCodes.Status204NoContent;
        });

    private static async Task<byte[]> ReadBodyAsync(HttpContext http, int expected, CancellationToken ct)
    {
        var body = new byte[expected];
        await http.Request.Body.ReadExactlyAsync(body, ct).ConfigureAwait(false);
        return body;
    }

    private static async Task WriteStateAsync(HttpContext http, ShardState state, CancellationToken ct)
    {
        var bytes = new byte[ShardStoreWire.StateSize];
        ShardStoreWire.WriteState(bytes, state);
        await WriteAsync(http, bytes, ct).ConfigureAwait(false);
    }

    private static async Task WriteAsync(HttpContext http, byte[] bytes, CancellationToken ct)
    {
        http.Response.ContentType = ShardStoreWire.ContentType;
        http.Response.ContentLength = bytes.Length;
        await http.Response.Body.WriteAsync(bytes, ct).ConfigureAwait(false);
    }

    /// <summary>Maps the storage contract's exceptions to status codes plus <see cref="ShardStoreWire.ErrorHeader"/>.</summary>
    private static async Task GuardAsync(HttpContext http, Func<CancellationToken, Task> handler)
    {
        var ct = http.RequestAborted;
        (int Status, string Code, string Message) error;
        try
        {
            await handler(ct).ConfigureAwait(false);
            return;
        }
        catch (ShardNotOwnedException e)
        {
            error = (StatusCodes.Status409Conflict, ShardStoreWire.Errors.NotOwned, e.Message);
        }
        catch (ShardNotFoundException e)
        {
            error = (StatusCodes.Status404NotFound, ShardStoreWire.Errors.NotFound, e.Message);
        }
        catch (ShardSealedException e)
        {
            error = (StatusCodes.Status410Gone, ShardStoreWire.Errors.Sealed, e.Message);
        }
        catch (Exception e) when (e is FormatException or ArgumentException or EndOfStreamException)
        {
            error = (StatusCodes.Status400BadRequest, ShardStoreWire.Errors.Invalid, e.Message);
        }
        catch (LogCorruptedException e)
        {
            error = (StatusCodes.Status500InternalServerError, ShardStoreWire.Errors.Corrupted, e.Message);
        }
        catch (IOException e) when (!ct.IsCancellationRequested)
        {
            error = (StatusCodes.Status503ServiceUnavailable, ShardStoreWire.Errors.Failed, e.Message);
        }
        if (http.Response.HasStarted)
            return;
        http.Response.StatusCode = error.Status;
        http.Response.Headers[ShardStoreWire.ErrorHeader] = error.Code;
        http.Response.ContentType = "text/plain; charset=utf-8";
        await http.Response.Body.WriteAsync(Encoding.UTF8.GetBytes(error.Message), ct).ConfigureAwait(false);
    }
}
