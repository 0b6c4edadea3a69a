using System.Security.Cryptography;

namespace Runnel.Gateway;

/// <summary>
/// Request ids in the UUID text form AWS uses: 64 random bits drawn once per process, then a counter. Unique within
/// a process and, with overwhelming probability, across processes, without a random-number syscall per request.
/// </summary>
public static class RequestIds
{
    private static readonly ulong Prefix = BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(8));
    private static long _counter;

    /// <summary>
    /// The <c>x-amz-id-2</c> value: an opaque base64 token as AWS's front end sends, 48 random bytes drawn once per
    /// process and the request counter, so it is unique per answer and costs no random draw per request.
    /// </summary>
    private static readonly byte[] HostPrefix = RandomNumberGenerator.GetBytes(48);

    public static string NextHostId()
    {
        Span<byte> bytes = stackalloc byte[56];
        HostPrefix.CopyTo(bytes);
        BitConverter.TryWriteBytes(bytes[48..], (ulong)Interlocked.Increment(ref _hostCounter));
        return Convert.ToBase64String(bytes);
    }

    private static long _hostCounter;

    public static string Next()
    {
        var n = (ulong)Interlocked.Increment(ref _counter);
        Span<byte> bytes = stackalloc byte[16];
        BitConverter.TryWriteBytes(bytes, Prefix);
        BitConverter.TryWriteBytes(bytes[8..], n);
        return new Guid(bytes).ToString();
    }
}
