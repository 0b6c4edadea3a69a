using System.Collections.Concurrent;
using System.Security.Cryptography;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Runnel.Ingest.Options;
using Runnel.Metadata;

namespace Runnel.Ingest.Auth;

/// <summary>An access key as the verifier needs it: the opened secret, its principal and policy.</summary>
public sealed class AccessKey(string id, string secret, string userName, string userArn, AccessPolicy policy, long loadedAt)
{
    private (string Scope, byte[] Key)? _signing;

    public string Id { get; } = id;
    public string UserName { get; } = userName;
    public string UserArn { get; } = userArn;
    public AccessPolicy Policy { get; } = policy;
    public long LoadedAt { get; } = loadedAt;

    /// <summary>The derived signing key of one credential scope; the last one is kept, as a key signs under one date most of the day.</summary>
    public byte[] SigningKey(string date, string region, string service)
    {
        var scope = $"{date}/{region}/{service}";
        var last = _signing;
        if (last is { } cached && cached.Scope == scope)
            return cached.Key;
        var key = Core.Security.SigV4.SigningKey(secret, date, region, service);
        _signing = (scope, key);
        return key;
    }
}

/// <summary>A key as listed by the management API (never with its secret).</summary>
public sealed record AccessKeySummary(string AccessKeyId, string UserName, string UserArn, string? PolicyDocument, string? Description, DateTimeOffset CreatedAt);

/// <summary>
/// Access keys in the metadata store (<c>access_keys</c>), secrets sealed by <see cref="SecretSealer"/>. Lookups are
/// cached for <see cref="SecurityOptions.KeyCacheLifetime"/>, unknown ids too, so a flood of bad keys does not reach the
/// database per request; a change made through this process is seen at once, one made on another replica within the lifetime.
/// </summary>
public sealed class AccessKeyStore(
    IDbContextFactory<MetadataDbContext> dbFactory,
    SecretSealer sealer,
    IOptions<SecurityOptions> security,
    IOptions<RunnelOptions> runnel,
    TimeProvider time,
    ILogger<AccessKeyStore> logger)
{
    private readonly ConcurrentDictionary<string, (AccessKey? Key, long LoadedAt)> _cache = new(StringComparer.Ordinal);

    public string UserArn(string userName) => $"arn:aws:iam::{runnel.Value.AccountId}:user/{userName}";

    public async ValueTask<AccessKey?> FindAsync(string accessKeyId, CancellationToken cancellationToken)
    {
        var now = time.GetTimestamp();
        if (_cache.TryGetValue(accessKeyId, out var cached) && time.GetElapsedTime(cached.LoadedAt, now) < security.Value.KeyCacheLifetime)
            return cached.Key;
        var key = await LoadAsync(accessKeyId, now, cancellationToken);
        // Bounded: an id that was never valid is remembered only while the cache is small, so random ids cannot grow it.
        if (key is not null || _cache.Count < 10_000)
            _cache[accessKeyId] = (key, now);
        return key;
    }

    private async Task<AccessKey?> LoadAsync(string accessKeyId, long now, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var row = await db.AccessKeys.AsNoTracking().FirstOrDefaultAsync(k => k.AccessKeyId == accessKeyId, cancellationToken);
        if (row is null || !row.Enabled)
            return null;
        var secret = sealer.IsConfigured ? sealer.Open(row.AccessKeyId, row.EncryptedSecret) : null;
        if (secret is null)
        {
            logger.LogWarning("Access key {AccessKeyId} cannot be opened with Security:MasterKey (another master key, or altered); it is refused.", accessKeyId);
            return null;
        }
        AccessPolicy policy;
        try
        {
            policy = row.PolicyDocument is null ? AccessPolicy.Nothing : AccessPolicy.Parse(row.PolicyDocument);
        }
        catch (FormatException e)
        {
            logger.LogWarning("The policy of access key {AccessKeyId} is not valid ({Reason}); it allows nothing.", accessKeyId, e.Message);
            policy = AccessPolicy.Nothing;
        }
        return new AccessKey(row.AccessKeyId, secret, row.UserName, UserArn(row.UserName), policy, now);
    }

    /// <summary>Creates a key; without an id and secret, new random ones in AWS's shapes (AKIA + 16, 40 characters).</summary>
    public async Task<(AccessKeySummary Key, string Secret)> CreateAsync(string userName, string? policyDocument, string? description,
        string? accessKeyId = null, string? secret = null, CancellationToken cancellationToken = default)
    {
        accessKeyId ??= "AKIA" + RandomNumberGenerator.GetString("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16);
        secret ??= RandomNumberGenerator.GetString("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 40);
        var row = new Metadata.Entities.AccessKeyEntity
        {
            AccessKeyId = accessKeyId,
            EncryptedSecret = sealer.Seal(accessKeyId, secret),
            UserName = userName,
            PolicyDocument = policyDocument,
            Description = description,
            CreatedAt = time.GetUtcNow(),
        };
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        db.AccessKeys.Add(row);
        await db.SaveChangesAsync(cancellationToken);
        _cache.TryRemove(accessKeyId, out _);
        return (Summary(row), secret);
    }

    public async Task<bool> ExistsAsync(string accessKeyId, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        return await db.AccessKeys.AnyAsync(k => k.AccessKeyId == accessKeyId, cancellationToken);
    }

    public async Task<IReadOnlyList<AccessKeySummary>> ListAsync(CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var rows = await db.AccessKeys.AsNoTracking().OrderBy(k => k.AccessKeyId).ToListAsync(cancellationToken);
        return [.. rows.Select(Summary)];
    }

    public async Task<AccessKeySummary?> GetAsync(string accessKeyId, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var row = await db.AccessKeys.AsNoTracking().FirstOrDefaultAsync(k => k.AccessKeyId == accessKeyId, cancellationToken);
        return row is null ? null : Summary(row);
    }

    public async Task<bool> DeleteAsync(string accessKeyId, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var deleted = await db.AccessKeys.Where(k => k.AccessKeyId == accessKeyId).ExecuteDeleteAsync(cancellationToken) > 0;
        _cache.TryRemove(accessKeyId, out _);
        return deleted;
    }

    /// <summary>Replaces the key's policy (null removes it: the key may then do nothing).</summary>
    public async Task<bool> PutPolicyAsync(string accessKeyId, string? policyDocument, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var changed = await db.AccessKeys.Where(k => k.AccessKeyId == accessKeyId)
            .ExecuteUpdateAsync(s => s.SetProperty(k => k.PolicyDocument, policyDocument), cancellationToken) > 0;
        _cache.TryRemove(accessKeyId, out _);
        return changed;
    }

    private AccessKeySummary Summary(Metadata.Entities.AccessKeyEntity row) =>
        new(row.AccessKeyId, row.UserName, UserArn(row.UserName), row.PolicyDocument, row.Description, row.CreatedAt);
}
