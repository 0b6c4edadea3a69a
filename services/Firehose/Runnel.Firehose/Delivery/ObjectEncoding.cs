using System.Buffers.Binary;
using System.IO.Compression;
using Runnel.Core.Storage;
using Runnel.Firehose.Destinations;
using Snappier;

namespace Runnel.Firehose.Delivery;

/// <summary>
/// The bytes of a delivered object: the records' data concatenated as they arrived (Firehose adds no delimiter), in
/// the destination's CompressionFormat. The bytes depend only on the records and the object's key, never on when they
/// are written, so an object written again after a crash replaces itself with the same content.
/// </summary>
public static class ObjectEncoding
{
    /// <summary>
    /// Uncompressed bytes per HADOOP_SNAPPY block. Hadoop's reader needs a block's compressed form to fit its buffer
    /// (<c>io.compression.codec.snappy.buffersize</c>, 256 KiB by default, blocks of at most ~218 KiB of input); 64 KiB
    /// blocks fit every configuration down to its smallest sensible size and cost under 0.01 % in framing.
    /// </summary>
    public const int HadoopSnappyBlockBytes = 64 * 1024;

    /// <summary>The object's bytes. <paramref name="objectKey"/> names the one entry of a ZIP archive.</summary>
    public static byte[] Encode(IReadOnlyList<StoredRecord> records, string compression, string objectKey = "")
    {
        using var output = new MemoryStream(Capacity(records, compression));
        using (var sink = Open(output, compression, objectKey, records.Count > 0 ? records[0].ArrivalUnixMs : 0))
        {
            foreach (var r in records)
                sink.Write(r.Data.Span);
        }
        return output.ToArray();
    }

    /// <summary>What a reader needs to open the object, as its Content-Type.</summary>
    public static string ContentType(string compression) => compression switch
    {
        Compressions.Gzip => "application/gzip",
        Compressions.Zip => "application/zip",
        _ => "application/octet-stream",
    };

    private static int Capacity(IReadOnlyList<StoredRecord> records, string compression)
    {
        var total = 0L;
        foreach (var r in records)
            total += r.Data.Length;
        // Uncompressed output is exactly the data; compressed output starts at a quarter and grows as needed.
        return (int)Math.Min(compression == Compressions.Uncompressed ? total : total / 4 + 64, Array.MaxLength);
    }

    /// <summary>A stream the data is written into; disposing it completes the format (MemoryStream stays readable).</summary>
    private static Stream Open(MemoryStream output, string compression, string objectKey, long oldestArrivalUnixMs) => compression switch
    {
        Compressions.Gzip => new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true),
        // Snappy's framing format (google/snappy framing_format.txt): stream identifier, then CRC-32C-checked chunks of
        // at most 64 KiB of input; what python-snappy's stream_decompress and Go's snappy.Reader read.
        Compressions.Snappy => new SnappyStream(output, CompressionMode.Compress, leaveOpen: true),
        Compressions.HadoopSnappy => new HadoopSnappyStream(output),
        Compressions.Zip => ZipEntryStream.Create(output, objectKey, oldestArrivalUnixMs),
        _ => new NonClosing(output),
    };

    /// <summary>
    /// Hadoop's BlockCompressorStream layout with the Snappy codec, as Hadoop's <c>SnappyCodec</c> (and so Athena, Hive
    /// and Spark) reads it: per block its uncompressed length, then its compressed length and raw Snappy bytes, each
    /// length a big-endian int32; no header, no checksum.
    /// </summary>
    private sealed class HadoopSnappyStream(Stream output) : WriteOnlyStream
    {
        private readonly byte[] _block = new byte[HadoopSnappyBlockBytes];
        private readonly byte[] _compressed = new byte[Snappy.GetMaxCompressedLength(HadoopSnappyBlockBytes)];
        private int _filled;

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            while (buffer.Length > 0)
            {
                var n = Math.Min(buffer.Length, _block.Length - _filled);
                buffer[..n].CopyTo(_block.AsSpan(_filled));
                _filled += n;
                buffer = buffer[n..];
                if (_filled == _block.Length)
                    WriteBlock();
            }
        }

        private void WriteBlock()
        {
            var length = Snappy.Compress(_block.AsSpan(0, _filled), _compressed);
            Span<byte> lengths = stackalloc byte[8];
            BinaryPrimitives.WriteInt32BigEndian(lengths, _filled);
            BinaryPrimitives.WriteInt32BigEndian(lengths[4..], length);
            output.Write(lengths);
            output.Write(_compressed, 0, length);
            _filled = 0;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing && _filled > 0)
                WriteBlock();
            base.Dispose(disposing);
        }
    }

    /// <summary>
    /// A ZIP archive of one deflated entry holding the object's data, named as the object's file name without its
    /// <c>.zip</c> and dated with the arrival of its oldest record, so a rewrite of the object is the same archive.
    /// </summary>
    private sealed class ZipEntryStream(ZipArchive archive, Stream entry) : WriteOnlyStream
    {
        /// <summary>ZIP dates start in 1980; an older arrival (a test clock) is dated at the format's first day.</summary>
        private const long ZipEpochUnixMs = 315_532_800_000L;

        public static ZipEntryStream Create(Stream output, string objectKey, long oldestArrivalUnixMs)
        {
            var name = Path.GetFileName(objectKey) is { Length: > 0 } file ? file : "records";
            if (name.EndsWith(".zip", StringComparison.Ordinal) && name.Length > 4)
                name = name[..^4];
            var archive = new ZipArchive(output, ZipArchiveMode.Create, leaveOpen: true);
            var entry = archive.CreateEntry(name, CompressionLevel.Fastest);
            entry.LastWriteTime = DateTimeOffset.FromUnixTimeMilliseconds(Math.Max(oldestArrivalUnixMs, ZipEpochUnixMs));
            return new ZipEntryStream(archive, entry.Open());
        }

        public override void Write(ReadOnlySpan<byte> buffer) => entry.Write(buffer);

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                entry.Dispose();
                archive.Dispose();
            }
            base.Dispose(disposing);
        }
    }

    /// <summary>The uncompressed case: writes go straight to the output, which disposing leaves open.</summary>
    private sealed class NonClosing(Stream output) : WriteOnlyStream
    {
        public override void Write(ReadOnlySpan<byte> buffer) => output.Write(buffer);
    }

    private abstract class WriteOnlyStream : Stream
    {
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
