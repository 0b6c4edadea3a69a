using System.Text;
using Runnel.Core.Security;

namespace Runnel.Ingest.Auth;

/// <summary>
/// Seals access key secrets under <c>Security:MasterKey</c> (<see cref="MasterKeySealer"/>): base64(nonce 12 | ciphertext | tag 16).
/// The access key id is the associated data, so a sealed secret copied onto another key's row does not open.
/// </summary>
public sealed class SecretSealer(string? masterKey)
{
    private readonly MasterKeySealer _sealer = new(masterKey);

    public bool IsConfigured => _sealer.IsConfigured;

    public string Seal(string accessKeyId, string secret) =>
        Convert.ToBase64String(_sealer.Seal(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(accessKeyId)));

    /// <summary>The secret, or null when the row was sealed under another master key or altered.</summary>
    public string? Open(string accessKeyId, string sealedSecret)
    {
        byte[] bytes;
        try
        {
            bytes = Convert.FromBase64String(sealedSecret);
        }
        catch (FormatException)
        {
            return null;
        }
        return _sealer.Open(bytes, Encoding.UTF8.GetBytes(accessKeyId)) is { } plain ? Encoding.UTF8.GetString(plain) : null;
    }
}
