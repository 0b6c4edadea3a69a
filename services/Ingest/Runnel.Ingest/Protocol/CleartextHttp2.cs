using System.Buffers;
using System.IO.Pipelines;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Runnel.Ingest.Protocol;

/// <summary>
/// Serves HTTP/1.1 and cleartext HTTP/2 with prior knowledge (h2c, as the AWS SDK for JavaScript v3
/// speaks to an http:// endpoint) on one port. Kestrel alone cannot: without TLS there is no ALPN, so
/// an endpoint allowing both protocols always speaks HTTP/1.1. This connection middleware peeks at
/// the first bytes without consuming them; when they are the HTTP/2 connection preface it presents
/// the connection to Kestrel as if ALPN had chosen "h2". No TLS handshake feature is set, so Kestrel's
/// TLS-only HTTP/2 requirements (version, cipher suites) do not apply. Because Kestrel then derives
/// the transport scheme "https" from the TLS feature, the server must allow alternate schemes so the
/// client's ":scheme: http" is accepted.
/// </summary>
public static class CleartextHttp2
{
    /// <summary>RFC 9113 section 3.4: every HTTP/2 connection starts with these 24 octets.</summary>
    private static ReadOnlySpan<byte> Preface => "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8;

    public static void Configure(KestrelServerOptions server)
    {
        server.AllowAlternateSchemes = true;
        server.ConfigureEndpointDefaults(listen =>
        {
            if (listen.Protocols != HttpProtocols.Http1AndHttp2 && listen.Protocols != HttpProtocols.Http1AndHttp2AndHttp3)
                return;
            var limits = listen.KestrelServerOptions.Limits;
            listen.Use(next => connection => DetectAsync(connection, next, limits.RequestHeadersTimeout));
        });
    }

    /// <summary>
    /// The peek runs before Kestrel's protocol handlers, so none of their timeouts covers it: a client that connects
    /// and stays silent is closed here after <paramref name="timeout"/>, the bound Kestrel puts on a request's headers.
    /// </summary>
    private static async Task DetectAsync(ConnectionContext connection, ConnectionDelegate next, TimeSpan timeout)
    {
        if (connection.Features.Get<ITlsConnectionFeature>() is not null)
        {
            await next(connection);
            return;
        }
        bool isPreface;
        using (var deadline = CancellationTokenSource.CreateLinkedTokenSource(connection.ConnectionClosed))
        {
            deadline.CancelAfter(timeout);
            var decided = await StartsWithPrefaceAsync(connection, deadline.Token);
            if (decided is null)
            {
                // Silent past the deadline, or gone: nothing was consumed and nobody is waiting for an answer.
                connection.Abort(new ConnectionAbortedException("No request within the request headers timeout."));
                return;
            }
            isPreface = decided.Value;
        }
        if (isPreface)
        {
            var alpn = new PriorKnowledgeFeature();
            connection.Features.Set<ITlsConnectionFeature>(alpn);
            connection.Features.Set<ITlsApplicationProtocolFeature>(alpn);
        }
        await next(connection);
    }

    /// <summary>Whether the first bytes are the preface; null when the deadline passed or the client left first.</summary>
    private static async ValueTask<bool?> StartsWithPrefaceAsync(ConnectionContext connection, CancellationToken deadline)
    {
        var input = connection.Transport.Input;
        while (true)
        {
            ReadResult result;
            try
            {
                result = await input.ReadAsync(deadline);
            }
            catch (OperationCanceledException)
            {
                return null;
            }
            var buffer = result.Buffer;
            var decided = Compare(buffer, out var isPreface);
            // Consume nothing: the protocol handler reads the same bytes again.
            input.AdvanceTo(buffer.Start, decided ? buffer.Start : buffer.End);
            if (decided)
                return isPreface;
            if (result.IsCompleted || result.IsCanceled)
                return false;
        }
    }

    /// <summary>False while the bytes so far are a proper prefix of the preface (more are needed).</summary>
    private static bool Compare(in ReadOnlySequence<byte> buffer, out bool isPreface)
    {
        Span<byte> head = stackalloc byte[24];
        var available = (int)Math.Min(buffer.Length, head.Length);
        buffer.Slice(0, available).CopyTo(head);
        var matching = head[..available].SequenceEqual(Preface[..available]);
        isPreface = matching && available == Preface.Length;
        return !matching || available == Preface.Length;
    }

    private static readonly byte[] H2 = "h2"u8.ToArray();

    private sealed class PriorKnowledgeFeature : ITlsConnectionFeature, ITlsApplicationProtocolFeature
    {
        public X509Certificate2? ClientCertificate { get; set; }

        public ReadOnlyMemory<byte> ApplicationProtocol => H2;

        public Task<X509Certificate2?> GetClientCertificateAsync(CancellationToken cancellationToken) => Task.FromResult<X509Certificate2?>(null);
    }
}
