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

    public static string Next()
    {
        var n = (ulong)Interlocked.Increment(ref _counter);
        Span<byte> bytes = stackalloc byte[16];
        BitConverter.TryWriteBytes(bytes, Prefix);
        BitConverter.TryWriteBytes(bytes[8..], n);
        return new Guid(bytes).ToString();
    }
}
