namespace Runnel.Metadata.Entities;

/// <summary>
/// One version of a stream's data key for encryption at rest, created by StartStreamEncryption. The key itself is
/// only stored sealed under the master key; versions are kept after StopStreamEncryption or a key change, because
/// records sealed with them stay readable until retention removes them.
/// </summary>
public class StreamDataKeyEntity
{
    public long StreamId { get; set; }
    public int Version { get; set; }
    /// <summary>The KMS key id or alias the client named (reported by DescribeStream as KeyId).</summary>
    public required string KeyId { get; set; }
    /// <summary>nonce | ciphertext | tag of the 32-byte key (<c>MasterKeySealer</c>), with <c>stream-data-key:{StreamId}:{Version}</c> as associated data.</summary>
    public required byte[] WrappedKey { get; set; }
    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>The associated data a data key is wrapped with, so a wrapped key copied onto another row does not open.</summary>
    public static byte[] AssociatedData(long streamId, int version) =>
        System.Text.Encoding.UTF8.GetBytes(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"stream-data-key:{streamId}:{version}"));
}
