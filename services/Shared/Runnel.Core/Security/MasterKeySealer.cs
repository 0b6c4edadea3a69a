using System.Security.Cryptography;

namespace Runnel.Core.Security;

/// <summary>
/// AES-256-GCM under the deployment's master key (<c>Security:MasterKey</c>, base64 of 32 bytes): seals the secrets
/// the metadata store keeps (access key secrets, stream data keys) as nonce 12 | ciphertext | tag 16. The associated
/// data names what was sealed, so a sealed value copied onto another row does not open.
/// </summary>
public sealed class MasterKeySealer
{
    public const string ConfigurationKey = "Security:MasterKey";
    private const int NonceBytes = 12;
    private const int TagBytes = 16;
    private readonly byte[]? _key;

    public MasterKeySealer(string? masterKey)
    {
        if (string.IsNullOrWhiteSpace(masterKey))
            return;
        try
        {
            _key = Convert.FromBase64String(masterKey.Trim());
        }
        catch (FormatException)
        {
            throw new InvalidOperationException($"{ConfigurationKey} is not valid base64.");
        }
        if (_key.Length != 32)
            throw new InvalidOperationException($"{ConfigurationKey} must decode to 32 bytes (AES-256).");
    }

    public bool IsConfigured => _key is not null;

    public byte[] Seal(ReadOnlySpan<byte> plain, ReadOnlySpan<byte> associatedData)
    {
        var sealedBytes = new byte[NonceBytes + plain.Length + TagBytes];
        var nonce = sealedBytes.AsSpan(0, NonceBytes);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(Key(), TagBytes);
        aes.Encrypt(nonce, plain, sealedBytes.AsSpan(NonceBytes, plain.Length), sealedBytes.AsSpan(NonceBytes + plain.Length), associatedData);
        return sealedBytes;
    }

    /// <summary>The plaintext, or null when the value was sealed under another master key, for another row, or altered.</summary>
    public byte[]? Open(ReadOnlySpan<byte> sealedBytes, ReadOnlySpan<byte> associatedData)
    {
        var key = Key();
        if (sealedBytes.Length < NonceBytes + TagBytes)
            return null;
        var length = sealedBytes.Length - NonceBytes - TagBytes;
        var plain = new byte[length];
        try
        {
            using var aes = new AesGcm(key, TagBytes);
            aes.Decrypt(sealedBytes[..NonceBytes], sealedBytes.Slice(NonceBytes, length), sealedBytes[(NonceBytes + length)..], plain, associatedData);
        }
        catch (AuthenticationTagMismatchException)
        {
            return null;
        }
        return plain;
    }

    private byte[] Key() => _key ?? throw new InvalidOperationException($"{ConfigurationKey} is not set: give it base64 of 32 random bytes.");
}
