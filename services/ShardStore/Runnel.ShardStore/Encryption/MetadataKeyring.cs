using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using Runnel.Core.Security;
using Runnel.Core.Storage;
using Runnel.Metadata;
using Runnel.Metadata.Entities;
using Runnel.ShardStore.Engine;

namespace Runnel.ShardStore.Encryption;

/// <summary>
/// The node's data keys: the <c>stream_data_keys</c> rows of the metadata store, unwrapped with <c>Security:MasterKey</c>
/// and kept in memory. Which key seals new records (the stream's highest version while its EncryptionType is KMS, none
/// otherwise) is re-read at most every <see cref="RefreshInterval"/>, so the data plane does not query the metadata
/// store per append; a change made in this process applies at once (<see cref="IStreamKeyChanges"/>).
/// </summary>
public sealed class MetadataKeyring(IDbContextFactory<MetadataDbContext> dbFactory, MasterKeySealer masterKey, TimeProvider time)
    : IStreamKeyring, IStreamKeyChanges
{
    /// <summary>How long a remote node may keep sealing (or not) after StartStreamEncryption / StopStreamEncryption.</summary>
    public static readonly TimeSpan RefreshInterval = TimeSpan.FromSeconds(1);

    private readonly ConcurrentDictionary<long, Entry> _streams = new();

    private sealed record Entry(StreamDataKey? Current, IReadOnlyDictionary<int, StreamDataKey> Versions, long LoadedAtTicks);

    public ValueTask<StreamDataKey?> CurrentAsync(long streamId, CancellationToken cancellationToken)
    {
        if (_streams.TryGetValue(streamId, out var entry) && time.GetElapsedTime(entry.LoadedAtTicks) < RefreshInterval)
            return ValueTask.FromResult(entry.Current);
        return LoadCurrentAsync(streamId, cancellationToken);
    }

    private async ValueTask<StreamDataKey?> LoadCurrentAsync(long streamId, CancellationToken cancellationToken) =>
        (await LoadAsync(streamId, cancellationToken).ConfigureAwait(false)).Current;

    public async ValueTask<StreamDataKey> GetAsync(long streamId, int version, CancellationToken cancellationToken)
    {
        if (_streams.TryGetValue(streamId, out var entry) && entry.Versions.TryGetValue(version, out var key))
            return key;
        entry = await LoadAsync(streamId, cancellationToken).ConfigureAwait(false);
        return entry.Versions.TryGetValue(version, out key) ? key
            : throw new DataKeyUnavailableException($"Data key version {version} of stream {streamId} is not in the key store; its records cannot be read.");
    }

    public void Changed(long streamId) => _streams.TryRemove(streamId, out _);

    private async Task<Entry> LoadAsync(long streamId, CancellationToken cancellationToken)
    {
        var loadedAt = time.GetTimestamp();
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
        var stream = await db.Streams.AsNoTracking().Where(s => s.Id == streamId).Select(s => new { s.EncryptionType }).FirstOrDefaultAsync(cancellationToken).ConfigureAwait(false);
        var rows = await db.StreamDataKeys.AsNoTracking().Where(k => k.StreamId == streamId).ToListAsync(cancellationToken).ConfigureAwait(false);
        var versions = new Dictionary<int, StreamDataKey>();
        foreach (var row in rows)
            versions[row.Version] = Unwrap(streamId, row.Version, row.WrappedKey);
        StreamDataKey? current = null;
        if (stream?.EncryptionType == "KMS" && versions.Count > 0)
            current = versions[versions.Keys.Max()];
        var entry = new Entry(current, versions, loadedAt);
        _streams[streamId] = entry;
        return entry;
    }

    private StreamDataKey Unwrap(long streamId, int version, byte[] wrapped)
    {
        if (!masterKey.IsConfigured)
            throw new DataKeyUnavailableException($"Stream {streamId} is encrypted and {MasterKeySealer.ConfigurationKey} is not set on this node.");
        var key = masterKey.Open(wrapped, StreamDataKeyEntity.AssociatedData(streamId, version))
            ?? throw new DataKeyUnavailableException(
                $"Data key version {version} of stream {streamId} does not open with {MasterKeySealer.ConfigurationKey}: this node has another master key than the one that created it.");
        return new StreamDataKey(streamId, version, key);
    }

    /// <summary>
    /// Refuses to start with a master key that opens none of the stored data keys: every encrypted record would be
    /// unreadable, and new keys sealed under it would not open on the other nodes.
    /// </summary>
    public async Task CheckMasterKeyAsync(CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
        var sample = await db.StreamDataKeys.AsNoTracking().OrderBy(k => k.StreamId).ThenBy(k => k.Version).FirstOrDefaultAsync(cancellationToken).ConfigureAwait(false);
        if (sample is null)
            return;
        if (!masterKey.IsConfigured || masterKey.Open(sample.WrappedKey, StreamDataKeyEntity.AssociatedData(sample.StreamId, sample.Version)) is null)
            throw new InvalidOperationException(
                $"{MasterKeySealer.ConfigurationKey} does not open the stored data keys of encrypted streams (stream {sample.StreamId}): start with the master key they were created under.");
    }
}
