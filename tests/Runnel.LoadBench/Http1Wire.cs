using System.Buffers.Text;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Runnel.LoadBench;

/// <summary>
/// A keep-alive HTTP/1.1 client over one socket for cleartext endpoints: the request head is fixed bytes except the
/// operation and the length, and the answer is parsed in place (Content-Length or chunked). The load generator shares
/// the server's cores, so its own cost per call comes off the server's rate: for single PutRecord calls HttpClient
/// cost it 140-160 us of CPU per call on two busy cores, this 85-115 us (the rest is the kernel's socket work).
/// One request at a time; a broken connection is reopened on the next call.
///
/// Blocking mode (for a closed-loop client on a thread of its own): the socket calls block, so an answer wakes exactly
/// the thread waiting for it. The asynchronous path instead takes the event-loop thread and then a pool worker per
/// answer: about two context switches and two futex calls per call, which on two shared cores cost the server a
/// fifth of its PutRecord rate. Every method then completes synchronously; the timeout is the socket's.
/// </summary>
internal sealed class Http1Wire : IDisposable
{
    private static readonly byte[] HeaderEnd = "\r\n\r\n"u8.ToArray();

    private readonly DnsEndPoint _endpoint;
    private readonly byte[] _headPrefix;
    private readonly byte[] _headSuffix;
    private readonly TimeSpan _timeout;
    private byte[] _send = new byte[16 * 1024];
    private byte[] _receive = new byte[64 * 1024];
    private byte[] _body = new byte[64 * 1024];
    private Socket? _socket;
    private CancellationTokenSource? _deadline;
    private CancellationToken _linkedTo;
    private readonly bool _blocking;

    public Http1Wire(Uri endpoint, string date, string authorization, TimeSpan timeout, bool blocking = false, string targetPrefix = KinesisConnection.KinesisPrefix)
    {
        _endpoint = new DnsEndPoint(endpoint.Host, endpoint.Port);
        _timeout = timeout;
        _blocking = blocking;
        var host = endpoint.IsDefaultPort ? endpoint.Host : $"{endpoint.Host}:{endpoint.Port}";
        _headPrefix = Encoding.ASCII.GetBytes($"POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-amz-json-1.1\r\n"
            + $"X-Amz-Date: {date}\r\nAuthorization: {authorization}\r\nX-Amz-Target: {targetPrefix}");
        _headSuffix = "\r\nContent-Length: "u8.ToArray();
    }

    public static bool Supports(Uri endpoint) => endpoint.Scheme == Uri.UriSchemeHttp;

    /// <summary>Sends one operation; returns the status and the answer's body (valid until the next call).</summary>
    public async Task<(int Status, ReadOnlyMemory<byte> Body)> SendAsync(string operation, ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        var token = Deadline(cancellationToken);
        var reused = _socket is not null;
        try
        {
            try
            {
                return await ExchangeAsync(operation, body, reused, token).ConfigureAwait(false);
            }
            catch (StaleConnectionException)
            {
                // The server closed an idle keep-alive connection before reading this request: resend once on a new one.
                Close();
                return await ExchangeAsync(operation, body, reused: false, token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            Close();
            throw new TaskCanceledException($"No answer within {_timeout.TotalSeconds:0.#} s.");
        }
        catch
        {
            Close();
            throw;
        }
        finally
        {
            if (_deadline is not null && !_deadline.TryReset())
            {
                _deadline.Dispose();
                _deadline = null;
            }
        }
    }

    private CancellationToken Deadline(CancellationToken cancellationToken)
    {
        if (_blocking)
            return cancellationToken;
        if (_deadline is null || _linkedTo != cancellationToken)
        {
            _deadline?.Dispose();
            _deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            _linkedTo = cancellationToken;
        }
        _deadline.CancelAfter(_timeout);
        return _deadline.Token;
    }

    private async Task<(int, ReadOnlyMemory<byte>)> ExchangeAsync(string operation, ReadOnlyMemory<byte> body, bool reused, CancellationToken token)
    {
        if (_socket is null)
        {
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                if (_blocking)
                {
                    socket.SendTimeout = socket.ReceiveTimeout = (int)Math.Min(_timeout.TotalMilliseconds, int.MaxValue);
                    socket.Connect(_endpoint);
                }
                else
                {
                    await socket.ConnectAsync(_endpoint, token).ConfigureAwait(false);
                }
            }
            catch
            {
                socket.Dispose();
                throw;
            }
            _socket = socket;
        }
        var head = WriteHead(operation, body.Length);
        try
        {
            // Small bodies go out with the head in one write; large ones follow it (no copy of a 700 KB batch).
            if (head + body.Length <= _send.Length)
            {
                body.Span.CopyTo(_send.AsSpan(head));
                await SendAllAsync(_send.AsMemory(0, head + body.Length), token).ConfigureAwait(false);
            }
            else
            {
                await SendAllAsync(_send.AsMemory(0, head), token).ConfigureAwait(false);
                await SendAllAsync(body, token).ConfigureAwait(false);
            }
        }
        catch (SocketException) when (reused)
        {
            throw new StaleConnectionException();
        }
        return await ReadAnswerAsync(reused, token).ConfigureAwait(false);
    }

    private int WriteHead(string operation, int contentLength)
    {
        var need = _headPrefix.Length + operation.Length + _headSuffix.Length + 16;
        if (need > _send.Length)
            _send = new byte[need * 2];
        var span = _send.AsSpan();
        _headPrefix.CopyTo(span);
        var at = _headPrefix.Length;
        at += Encoding.ASCII.GetBytes(operation, span[at..]);
        _headSuffix.CopyTo(span[at..]);
        at += _headSuffix.Length;
        Utf8Formatter.TryFormat(contentLength, span[at..], out var written);
        at += written;
        HeaderEnd.CopyTo(span[at..]);
        return at + HeaderEnd.Length;
    }

    private async Task SendAllAsync(ReadOnlyMemory<byte> data, CancellationToken token)
    {
        while (!data.IsEmpty)
        {
            var sent = _blocking ? _socket!.Send(data.Span) : await _socket!.SendAsync(data, SocketFlags.None, token).ConfigureAwait(false);
            data = data[sent..];
        }
    }

    /// <summary>Reads one answer: status line, headers, then the body by Content-Length or chunks.</summary>
    private async Task<(int, ReadOnlyMemory<byte>)> ReadAnswerAsync(bool reused, CancellationToken token)
    {
        var filled = 0;
        int headEnd;
        while ((headEnd = _receive.AsSpan(0, filled).IndexOf(HeaderEnd)) < 0)
        {
            if (filled == _receive.Length)
                Array.Resize(ref _receive, _receive.Length * 2);
            var read = await ReceiveAsync(_receive.AsMemory(filled), token).ConfigureAwait(false);
            if (read == 0)
            {
                if (filled == 0 && reused)
                    throw new StaleConnectionException();
                throw new IOException("The server closed the connection before its answer's headers.");
            }
            filled += read;
        }
        var (status, contentLength, chunked, close) = ParseHead(_receive.AsSpan(0, headEnd));
        var start = headEnd + HeaderEnd.Length;
        ReadOnlyMemory<byte> answer;
        if (chunked)
        {
            answer = await ReadChunkedAsync(start, filled, token).ConfigureAwait(false);
        }
        else if (contentLength >= 0)
        {
            if (start + contentLength > _receive.Length)
            {
                var bigger = new byte[Math.Max(_receive.Length * 2, start + contentLength)];
                _receive.AsSpan(0, filled).CopyTo(bigger);
                _receive = bigger;
            }
            while (filled < start + contentLength)
            {
                var read = await ReceiveAsync(_receive.AsMemory(filled), token).ConfigureAwait(false);
                if (read == 0)
                    throw new IOException("The server closed the connection in the middle of an answer.");
                filled += read;
            }
            if (filled > start + contentLength)
                throw new IOException("The server sent more than one answer for one request.");
            answer = _receive.AsMemory(start, contentLength);
        }
        else
        {
            // No length and not chunked: the body runs to the end of the connection.
            while (true)
            {
                if (filled == _receive.Length)
                    Array.Resize(ref _receive, _receive.Length * 2);
                var read = await ReceiveAsync(_receive.AsMemory(filled), token).ConfigureAwait(false);
                if (read == 0)
                    break;
                filled += read;
            }
            answer = _receive.AsMemory(start, filled - start);
            close = true;
        }
        if (close)
        {
            // The body stays readable: it lives in this object's buffers, not in the socket.
            _socket?.Dispose();
            _socket = null;
        }
        return (status, answer);
    }

    private async Task<ReadOnlyMemory<byte>> ReadChunkedAsync(int at, int filled, CancellationToken token)
    {
        var bodyLength = 0;
        while (true)
        {
            int lineEnd;
            while ((lineEnd = _receive.AsSpan(at, filled - at).IndexOf("\r\n"u8)) < 0)
                filled = await MoreAsync(filled, token).ConfigureAwait(false);
            var sizeText = _receive.AsSpan(at, lineEnd);
            var semicolon = sizeText.IndexOf((byte)';');
            if (semicolon >= 0)
                sizeText = sizeText[..semicolon];
            if (!Utf8Parser.TryParse(sizeText.Trim((byte)' '), out int size, out _, 'x') || size < 0)
                throw new IOException("Malformed chunk size in the answer.");
            at += lineEnd + 2;
            if (size == 0)
            {
                // Trailers (none expected) end with an empty line.
                while (true)
                {
                    while ((lineEnd = _receive.AsSpan(at, filled - at).IndexOf("\r\n"u8)) < 0)
                        filled = await MoreAsync(filled, token).ConfigureAwait(false);
                    at += lineEnd + 2;
                    if (lineEnd == 0)
                        break;
                }
                if (at != filled)
                    throw new IOException("The server sent more than one answer for one request.");
                return _body.AsMemory(0, bodyLength);
            }
            while (filled - at < size + 2)
            {
                var shift = MoveToFront(ref at, ref filled);
                if (filled == _receive.Length && shift == 0)
                    Array.Resize(ref _receive, _receive.Length * 2);
                var read = await ReceiveAsync(_receive.AsMemory(filled), token).ConfigureAwait(false);
                if (read == 0)
                    throw new IOException("The server closed the connection in the middle of an answer.");
                filled += read;
            }
            if (bodyLength + size > _body.Length)
                Array.Resize(ref _body, Math.Max(_body.Length * 2, bodyLength + size));
            _receive.AsSpan(at, size).CopyTo(_body.AsSpan(bodyLength));
            bodyLength += size;
            at += size + 2;
        }
    }

    /// <summary>Moves unread bytes to the start of the receive buffer; returns how far they moved.</summary>
    private int MoveToFront(ref int at, ref int filled)
    {
        var shift = at;
        if (shift > 0)
        {
            _receive.AsSpan(at, filled - at).CopyTo(_receive);
            filled -= at;
            at = 0;
        }
        return shift;
    }

    private async Task<int> MoreAsync(int filled, CancellationToken token)
    {
        if (filled == _receive.Length)
            Array.Resize(ref _receive, _receive.Length * 2);
        var read = await ReceiveAsync(_receive.AsMemory(filled), token).ConfigureAwait(false);
        if (read == 0)
            throw new IOException("The server closed the connection in the middle of an answer.");
        return filled + read;
    }

    private ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken token) =>
        _blocking ? new ValueTask<int>(_socket!.Receive(buffer.Span)) : _socket!.ReceiveAsync(buffer, SocketFlags.None, token);

    private static (int Status, int ContentLength, bool Chunked, bool Close) ParseHead(ReadOnlySpan<byte> head)
    {
        var lineEnd = head.IndexOf("\r\n"u8);
        var statusLine = lineEnd < 0 ? head : head[..lineEnd];
        // "HTTP/1.1 200 OK"
        if (statusLine.Length < 12 || !statusLine.StartsWith("HTTP/1."u8) || !Utf8Parser.TryParse(statusLine.Slice(9, 3), out int status, out _))
            throw new IOException("Malformed status line in the answer.");
        var keepAlive = statusLine[7] == (byte)'1';
        int contentLength = -1;
        bool chunked = false;
        var rest = lineEnd < 0 ? [] : head[(lineEnd + 2)..];
        while (!rest.IsEmpty)
        {
            var end = rest.IndexOf("\r\n"u8);
            var line = end < 0 ? rest : rest[..end];
            rest = end < 0 ? [] : rest[(end + 2)..];
            var colon = line.IndexOf((byte)':');
            if (colon <= 0)
                continue;
            var name = line[..colon];
            var value = line[(colon + 1)..].Trim((byte)' ');
            if (Ascii.EqualsIgnoreCase(name, "Content-Length"u8))
            {
                if (!Utf8Parser.TryParse(value, out contentLength, out _))
                    throw new IOException("Malformed Content-Length in the answer.");
            }
            else if (Ascii.EqualsIgnoreCase(name, "Transfer-Encoding"u8))
            {
                chunked = value.IndexOf("chunked"u8) >= 0;
            }
            else if (Ascii.EqualsIgnoreCase(name, "Connection"u8))
            {
                if (Ascii.EqualsIgnoreCase(value, "close"u8))
                    keepAlive = false;
                else if (Ascii.EqualsIgnoreCase(value, "keep-alive"u8))
                    keepAlive = true;
            }
        }
        return (status, contentLength, chunked, !keepAlive);
    }

    private void Close()
    {
        _socket?.Dispose();
        _socket = null;
    }

    public void Dispose()
    {
        Close();
        _deadline?.Dispose();
    }

    private sealed class StaleConnectionException : Exception;
}
