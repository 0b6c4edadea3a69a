namespace Runnel.Core.Wire;

/// <summary>The two body encodings of the Kinesis wire protocol (JSON 1.1 and CBOR 1.1).</summary>
public enum WireFormat
{
    Json,
    Cbor,
}
