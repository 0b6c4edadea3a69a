using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Runnel.Core.Wire;

namespace Runnel.Gateway;

/// <summary>One authenticated call of an AWS JSON-protocol operation. The body is valid only during the call.</summary>
public sealed class AwsRequest(HttpContext http, string operation, ReadOnlyMemory<byte> body, WireFormat format, string principal)
{
    public HttpContext Http { get; } = http;

    /// <summary>The target's operation name, without the service prefix.</summary>
    public string Operation { get; } = operation;

    public ReadOnlyMemory<byte> Body { get; } = body;
    public WireFormat Format { get; } = format;

    /// <summary>The access key id the gateway authenticated ("anonymous" without authentication).</summary>
    public string Principal { get; } = principal;

    public CancellationToken Aborted => Http.RequestAborted;

    /// <summary>The body as a JSON document (a CBOR body is converted); malformed input is a SerializationException.</summary>
    public JsonDocument ReadDocument() => WireDocument.Parse(Body, Format);
}
