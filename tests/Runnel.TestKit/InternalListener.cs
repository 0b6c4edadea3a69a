using System.Security.Cryptography;

namespace Runnel.TestKit;

/// <summary>
/// The node-to-node listener of a deployed-shape service started by a test: one token for every process of the test
/// run, and the arguments that give a service its internal port (<c>Runnel:Internal</c>).
/// </summary>
public static class InternalListener
{
    public static readonly string Token = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));

    public const string TokenHeader = "X-Runnel-Internal-Token";

    /// <summary>Arguments for a service listening internally on <paramref name="address"/> (null: it only calls out).</summary>
    public static string[] Arguments(Uri? address) => address is null
        ? [$"--Runnel:Internal:Token={Token}"]
        : [$"--Runnel:Internal:Urls={address.GetLeftPart(UriPartial.Authority)}", $"--Runnel:Internal:Token={Token}"];
}
