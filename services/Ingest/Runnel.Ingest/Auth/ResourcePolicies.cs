using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Runnel.Metadata;

namespace Runnel.Ingest.Auth;

/// <summary>The principal a request acts as, as resource-based policies name it.</summary>
/// <param name="UserArn"><c>arn:aws:iam::&lt;account&gt;:user/&lt;the key's user&gt;</c>.</param>
/// <param name="Account">The deployment's account id.</param>
public sealed record PolicyCaller(string UserArn, string Account);

/// <summary>
/// The Principal element of a resource-based policy statement: <c>"*"</c>, or <c>{"AWS": ...}</c> with <c>"*"</c>, user
/// or role ARNs, an account id or <c>arn:aws:iam::&lt;account&gt;:root</c> (a string or a list). Other principal types
/// (Service, Federated, CanonicalUser) are accepted and never match an access key.
/// </summary>
public sealed partial class PolicyPrincipals
{
    private readonly bool _anyone;
    private readonly HashSet<string> _arns;
    private readonly HashSet<string> _accounts;

    private PolicyPrincipals(bool anyone, HashSet<string> arns, HashSet<string> accounts) =>
        (_anyone, _arns, _accounts) = (anyone, arns, accounts);

    [GeneratedRegex(@"^arn:aws[a-z-]*:iam::(\d{12}):root$")]
    private static partial Regex AccountRoot();

    [GeneratedRegex(@"^\d{12}$")]
    private static partial Regex AccountId();

    [GeneratedRegex(@"^arn:aws[a-z-]*:iam::\d{12}:(user|role)/\S+$")]
    private static partial Regex PrincipalArn();

    public static PolicyPrincipals Parse(JsonElement principal)
    {
        if (principal.ValueKind == JsonValueKind.String)
        {
            return principal.GetString() == "*"
                ? new PolicyPrincipals(true, [], [])
                : throw new FormatException("Invalid principal in policy: a Principal string must be \"*\"; name others as {\"AWS\": ...}.");
        }
        if (principal.ValueKind != JsonValueKind.Object || !principal.EnumerateObject().Any())
            throw new FormatException("Invalid principal in policy: Principal must be \"*\" or an object such as {\"AWS\": \"arn:aws:iam::<account>:user/<name>\"}.");
        bool anyone = false;
        HashSet<string> arns = new(StringComparer.Ordinal), accounts = new(StringComparer.Ordinal);
        foreach (var type in principal.EnumerateObject())
        {
            var values = type.Value.ValueKind == JsonValueKind.String ? [type.Value.GetString()!]
                : type.Value.ValueKind == JsonValueKind.Array && type.Value.GetArrayLength() > 0 && type.Value.EnumerateArray().All(v => v.ValueKind == JsonValueKind.String)
                    ? type.Value.EnumerateArray().Select(v => v.GetString()!).ToArray()
                    : throw new FormatException($"Invalid principal in policy: {type.Name} must be a string or a non-empty list of strings.");
            if (type.Name is "Service" or "Federated" or "CanonicalUser")
                continue;
            if (type.Name != "AWS")
                throw new FormatException($"Invalid principal in policy: unknown principal type {type.Name}.");
            foreach (var value in values)
            {
                if (value == "*")
                    anyone = true;
                else if (AccountId().IsMatch(value))
                    accounts.Add(value);
                else if (AccountRoot().Match(value) is { Success: true } root)
                    accounts.Add(root.Groups[1].Value);
                else if (PrincipalArn().IsMatch(value))
                    arns.Add(value);
                else
                    throw new FormatException($"Invalid principal in policy: \"AWS\":\"{value}\"");
            }
        }
        return new PolicyPrincipals(anyone, arns, accounts);
    }

    /// <summary>
    /// Whether a statement with these principals applies to <paramref name="caller"/>. As within one AWS account, naming
    /// the account (or its root) in an Allow delegates to the identity policies and grants nobody by itself; in a Deny
    /// it covers every principal of the account.
    /// </summary>
    public bool Covers(PolicyCaller caller, bool allow) =>
        _anyone || _arns.Contains(caller.UserArn) || (!allow && _accounts.Contains(caller.Account));
}

/// <summary>
/// The resource-based policies of streams and consumers, all held in memory (they are few and small) and read again
/// from the metadata store when older than <see cref="SecurityOptions.KeyCacheLifetime"/>; a change made through this
/// process is seen at once, one made on another replica within the lifetime.
/// </summary>
public sealed class ResourcePolicyStore(
    IDbContextFactory<MetadataDbContext> dbFactory,
    IOptions<SecurityOptions> security,
    TimeProvider time,
    ILogger<ResourcePolicyStore> logger)
{
    private readonly SemaphoreSlim _loading = new(1, 1);
    private volatile Snapshot? _current;
    private int _generation;

    public sealed class Snapshot(IReadOnlyDictionary<string, AccessPolicy> byArn, long loadedAt)
    {
        public long LoadedAt { get; } = loadedAt;

        public bool IsEmpty => byArn.Count == 0;

        public AccessPolicy? Find(string resourceArn) => byArn.GetValueOrDefault(resourceArn);

        /// <summary>Whether any stored policy denies <paramref name="action"/> to <paramref name="caller"/>, whatever the resource.</summary>
        public bool MayDeny(string action, PolicyCaller caller)
        {
            foreach (var policy in byArn.Values)
            {
                if (policy.MayDeny(action, caller))
                    return true;
            }
            return false;
        }
    }

    public async ValueTask<Snapshot> CurrentAsync(CancellationToken cancellationToken)
    {
        var current = _current;
        if (current is not null && time.GetElapsedTime(current.LoadedAt) < security.Value.KeyCacheLifetime)
            return current;
        await _loading.WaitAsync(cancellationToken);
        try
        {
            current = _current;
            if (current is not null && time.GetElapsedTime(current.LoadedAt) < security.Value.KeyCacheLifetime)
                return current;
            var generation = Volatile.Read(ref _generation);
            var loadedAt = time.GetTimestamp();
            await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
            var rows = await db.ResourcePolicies.AsNoTracking().Select(p => new { p.ResourceArn, p.Document }).ToListAsync(cancellationToken);
            var byArn = new Dictionary<string, AccessPolicy>(StringComparer.Ordinal);
            foreach (var row in rows)
            {
                try
                {
                    byArn[row.ResourceArn] = AccessPolicy.ParseResourcePolicy(row.Document);
                }
                catch (FormatException e)
                {
                    // Validated when put; a row changed by hand that no longer parses allows and denies nothing.
                    logger.LogWarning("The resource policy of {ResourceArn} is not valid ({Reason}); it is ignored.", row.ResourceArn, e.Message);
                }
            }
            var loaded = new Snapshot(byArn, loadedAt);
            // A change made here while this was read may be missing from it: then it serves this call only.
            if (Volatile.Read(ref _generation) == generation)
                _current = loaded;
            return loaded;
        }
        finally
        {
            _loading.Release();
        }
    }

    /// <summary>Called after a policy was put or deleted here: the next decision reads the store again.</summary>
    public void Invalidate()
    {
        Interlocked.Increment(ref _generation);
        _current = null;
    }
}
