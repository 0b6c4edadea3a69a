using System.Security.Cryptography;
using System.Text;

namespace Runnel.Ingest.Auth;

/// <summary>
/// Seals access key secrets with AES-256-GCM under <c>Security:MasterKey</c>: base64(nonce 12 | ciphertext | tag 16).
/// The access key id is the associated data, so a sealed secret copied onto another key's row does not open.
/// </summary>
public sealed class SecretSealer
{
    private const int NonceBytes = 12;
    private const int TagBytes = 16;
    private readonly byte[]? _key;

    public SecretSealer(string? masterKey)
    {
        if (string.IsNullOrWhiteSpace(masterKey))
            return;
        try
        {
            _key = Convert.FromBase64String(masterKey);
        }
        catch (FormatException)
        {
            throw new InvalidOperationException("Security:MasterKey is not valid base64.");
        }
        if (_key.Length != 32)
            throw new InvalidOperationException("Security:MasterKey must decode to 32 bytes (AES-256).");
    }

    public bool IsConfigured => _key is not null;

    public string Seal(string accessKeyId, string secret)
    {
        var key = Key();
        var plain = Encoding.UTF8.GetBytes(secret);
        var sealedBytes = new byte[NonceBytes + plain.Length + TagBytes];
        var nonce = sealedBytes.AsSpan(0, NonceBytes);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(key, TagBytes);
        aes.Encrypt(nonce, plain, sealedBytes.AsSpan(NonceBytes, plain.Length), sealedBytes.AsSpan(NonceBytes + plain.Length), Encoding.UTF8.GetBytes(accessKeyId));
        return Convert.ToBase64String(sealedBytes);
    }

    /// <summary>The secret, or null when the row was sealed under another master key or altered.</summary>
    public string? Open(string accessKeyId, string sealedSecret)
    {
        var key = Key();
        byte[] bytes;
        try
        {
            bytes = Convert.FromBase64String(sealedSecret);
        }
        catch (FormatException)
        {
            return null;
        }
        if (bytes.Length < NonceBytes + TagBytes)
            return null;
        var length = bytes.Length - NonceBytes - TagBytes;
        var plain = new byte[length];
        try
        {
            using var aes = new AesGcm(key, TagBytes);
            aes.Decrypt(bytes.AsSpan(0, NonceBytes), bytes.AsSpan(NonceBytes, length), bytes.AsSpan(NonceBytes + length), plain, Encoding.UTF8.GetBytes(accessKeyId));
        }
        catch (AuthenticationTagMismatchException)
        {
            return null;
        }
        return Encoding.UTF8.GetString(plain);
    }

    private byte[] Key() => _key ?? throw new InvalidOperationException("Security:MasterKey is not set: give it base64 of 32 random bytes to store access keys.");
}
