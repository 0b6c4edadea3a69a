using System.Buffers;
using System.Globalization;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using Runnel.Core.Storage;
using Runnel.ShardStore.Client.Wire;

namespace Runnel.ShardStore.Client;

/// <summary>
/// <see cref="IShardStore"/> over HTTP to one node, speaking <see cref="ShardStoreWire"/>. Contract errors come back
/// as the contract's exceptions (409 not owned, 404 not found, 410 sealed); transport failures as
/// <see cref="ShardStoreUnavailableException"/>. Nothing is retried here: an append's outcome after a lost response
/// is unknown, and only the caller can decide what to do about it.
/// </summary>
public sealed class HttpShardStoreClient(HttpClient http, string nodeId, NodeAddressBook addresses) : IShardStore, IShardTail
{
    private static readonly MediaTypeHeaderValue OctetStream = new(ShardStoreWire.ContentType);

    public string NodeId { get; } = nodeId;

    public async Task OpenShardAsync(ShardRef shard, long epoch, ShardSettings settings, CancellationToken cancellationToken)
    {
        using var content = Bytes(ShardStoreWire.WriteSettings(settings));
        using var response = await SendAsync(HttpMethod.Post, shard, $"open?epoch={epoch}", content, cancellationToken).ConfigureAwait(false);
    }

    public async Task<AppendResult> AppendAsync(ShardRef shard, long epoch, IReadOnlyList<AppendRecord> records, CancellationToken cancellationToken)
    {
        var size = ShardStoreWire.AppendRequestSize(records);
        var buffer = ArrayPool<byte>.Shared.Rent(size);
        try
        {
            ShardStoreWire.WriteAppendRequest(buffer.AsSpan(0, size), records);
            using var content = new ByteArrayContent(buffer, 0, size);
            content.Headers.ContentType = OctetStream;
            using var response = await SendAsync(HttpMethod.Post, shard, $"append?epoch={epoch}", content, cancellationToken).ConfigureAwait(false);
            var body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
            return ShardStoreWire.ReadAppendResult(body);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public async Task<ReadResult> ReadAsync(ShardRef shard, ReadRequest request, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(HttpMethod.Get, shard,
            $"read?from={request.FromOrdinal}&max={request.MaxRecords}&maxBytes={request.MaxBytes}", null, cancellationToken).ConfigureAwait(false);
        var body = await ReadBodyAsync(response, cancellationToken).ConfigureAwait(false);
        return ShardStoreWire.ReadReadResult(body);
    }

    public async Task<ShardState> GetStateAsync(ShardRef shard, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(HttpMethod.Get, shard, "state", null, cancellationToken).ConfigureAwait(false);
        return ShardStoreWire.ReadState(shard, await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false));
    }

    public async Task<ulong> FindOrdinalAsync(ShardRef shard, long timestampUnixMs, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(HttpMethod.Get, shard, $"find?timestamp={timestampUnixMs}", null, cancellationToken).ConfigureAwait(false);
        var body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        if (body.Length != 8)
            throw new FormatException("Invalid find response.");
        return BitConverter.IsLittleEndian ? BitConverter.ToUInt64(body) : System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(body);
    }

    public async Task<ShardState> SealShardAsync(ShardRef shard, long epoch, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(HttpMethod.Post, shard, $"seal?epoch={epoch}", null, cancellationToken).ConfigureAwait(false);
        return ShardStoreWire.ReadState(shard, await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false));
    }

    public async Task UpdateSettingsAsync(ShardRef shard, ShardSettings settings, CancellationToken cancellationToken)
    {
        using var content = Bytes(ShardStoreWire.WriteSettings(settings));
        using var response = await SendAsync(HttpMethod.Put, shard, "settings", content, cancellationToken).ConfigureAwait(false);
    }

    public async Task DeleteShardAsync(ShardRef shard, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(HttpMethod.Delete, shard, "", null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Reads the node's streamed tail frames. Three missed heartbeats count as a dead connection and end the sequence
    /// with <see cref="ShardStoreUnavailableException"/>, like any transport failure.
    /// </summary>
    public async IAsyncEnumerable<TailPosition> WatchAsync(ShardRef shard, ulong fromOrdinal, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var response = await SendAsync(HttpMethod.Get, shard, $"tail?from={fromOrdinal}", null, cancellationToken).ConfigureAwait(false);
        var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            var frame = new byte[ShardStoreWire.TailFrameSize];
            var silence = ShardStoreWire.TailHeartbeatInterval * 3;
            while (true)
            {
                using (var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
                {
                    deadline.CancelAfter(silence);
                    int read;
                    try
                    {
                        read = await stream.ReadAtLeastAsync(frame, frame.Length, throwOnEndOfStream: false, deadline.Token).ConfigureAwait(false);
                    }
                    catch (Exception e) when (!cancellationToken.IsCancellationRequested && e is OperationCanceledException or IOException or HttpRequestException)
                    {
                        throw new ShardStoreUnavailableException(NodeId, $"The tail stream of shard {shard} from node '{NodeId}' broke: {e.Message}", e);
                    }
                    if (read < frame.Length)
                    {
                        if (read == 0)
                            yield break;
                        throw new ShardStoreUnavailableException(NodeId, $"The tail stream of shard {shard} from node '{NodeId}' ended inside a frame.");
                    }
                }
                var (position, heartbeat) = ShardStoreWire.ReadTailFrame(frame);
                if (heartbeat)
                    continue;
                yield return position;
                if (position.Sealed)
                    yield break;
            }
        }
    }

    private static ByteArrayContent Bytes(byte[] bytes)
    {
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = OctetStream;
        return content;
    }

    /// <summary>Reads the body into one array of its announced length, so records can be slices of it.</summary>
    private static async Task<byte[]> ReadBodyAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (response.Content.Headers.ContentLength is not { } length)
            return await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        var body = GC.AllocateUninitializedArray<byte>(checked((int)length));
        var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
            await stream.ReadExactlyAsync(body, cancellationToken).ConfigureAwait(false);
        return body;
    }

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, ShardRef shard, string operation, HttpContent? content, CancellationToken cancellationToken)
    {
        var baseAddress = await addresses.ResolveAsync(NodeId, cancellationToken).ConfigureAwait(false);
        var path = ShardStoreWire.ShardPath(shard, operation).TrimEnd('/');
        using var request = new HttpRequestMessage(method, new Uri(baseAddress, path)) { Content = content };
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            addresses.Invalidate(NodeId);
            throw new ShardStoreUnavailableException(NodeId, $"ShardStore node '{NodeId}' is unreachable: {e.Message}", e);
        }
        if (response.IsSuccessStatusCode)
            return response;
        using (response)
            throw await ToExceptionAsync(shard, response, cancellationToken).ConfigureAwait(false);
    }

    private async Task<Exception> ToExceptionAsync(ShardRef shard, HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var code = response.Headers.TryGetValues(ShardStoreWire.ErrorHeader, out var values) ? values.FirstOrDefault() : null;
        var message = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        return code switch
        {
            ShardStoreWire.Errors.NotOwned => new ShardNotOwnedException(shard, message),
            ShardStoreWire.Errors.NotFound => new ShardNotFoundException(shard),
            ShardStoreWire.Errors.Sealed => new ShardSealedException(shard),
            ShardStoreWire.Errors.Invalid => new ArgumentException(message),
            _ => new ShardStoreUnavailableException(NodeId, string.Create(CultureInfo.InvariantCulture,
                $"ShardStore node '{NodeId}' answered {(int)response.StatusCode} {code}: {Truncate(message)}")),
        };
    }

    private static string Truncate(string text) => text.Length <= 500 ? text : text[..500];
}
